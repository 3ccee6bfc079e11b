import { loginAnswer } from "./answers.js";
import { ApiError, type Api } from "./api.js";
import type { TerminalPrompt } from "./terminal-prompt.js";

export type LoginContext = {
  prompt: TerminalPrompt;
  api: Api;
  /** Where peers can reach us for private messaging. */
  p2pPort: number;
  p2pHost?: string;
};

export type LoginResult = { kind: "logged-in"; token: string; username: string } | { kind: "gave-up"; exitCode: number };

/**
 * Asks for a username and password until the server lets us in, like the original client:
 * after a wrong password only the password is asked again; a lockout ends the client.
 */
export async function logIn(context: LoginContext): Promise<LoginResult> {
  for (;;) {
    const username = await context.prompt.ask("Username: ");
    if (username === undefined) return { kind: "gave-up", exitCode: 0 };
    if (username.trim() === "") continue;
    const result = await askPasswords(context, username.trim());
    if (result !== "ask-username") return result;
  }
}

async function askPasswords(context: LoginContext, username: string): Promise<LoginResult | "ask-username"> {
  const { prompt, api, p2pPort, p2pHost } = context;
  for (;;) {
    const password = await prompt.ask("Password: ", { secret: true });
    if (password === undefined) return { kind: "gave-up", exitCode: 0 };
    try {
      const body = { username, password, p2pPort, ...(p2pHost === undefined ? {} : { p2pHost }) };
      const answer = await api.call("POST", "/login", loginAnswer, body);
      prompt.print(answer.detail ?? "Welcome to the greatest messaging application ever!");
      return { kind: "logged-in", token: answer.token, username: answer.username };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      prompt.print(error.detail);
      if (error.code === "account_locked" || error.code === "unreachable") return { kind: "gave-up", exitCode: 1 };
      // attemptsLeft is present only when the username exists: then only the password was wrong.
      if (error.code === "invalid_credentials" && error.attemptsLeft !== undefined) continue;
      return "ask-username";
    }
  }
}
