import { detailAnswer, privateAnswer, usersAnswer } from "./answers.js";
import { ApiError, type Api } from "./api.js";
import { HELP_TEXT, INVALID_COMMAND, type Command, type ParsedLine } from "./commands.js";
import { privateStoppedLine } from "./notices.js";
import { PeerError, type PeerNetwork } from "./peer-network.js";

export type CommandContext = {
  /** Authenticated with the session's token. */
  api: Api;
  username: string;
  peers: PeerNetwork;
  print(line: string): void;
};

/** What the client does after a command: read the next one, or stop because the session is over. */
export type CommandOutcome = "continue" | "logged-out" | "session-ended";

/** Runs one typed line, printing its result or the server's error text. */
export async function runLine(parsed: ParsedLine, context: CommandContext): Promise<CommandOutcome> {
  if (parsed.kind === "empty") return "continue";
  if (parsed.kind === "invalid") {
    context.print(INVALID_COMMAND);
    if (parsed.usage !== undefined) context.print(`Usage: ${parsed.usage}`);
    return "continue";
  }
  try {
    return await runCommand(parsed.command, context);
  } catch (error) {
    if (error instanceof PeerError) {
      context.print(error.message);
      return "continue";
    }
    if (!(error instanceof ApiError)) throw error;
    context.print(error.detail);
    return error.sessionEnded ? "session-ended" : "continue";
  }
}

async function runCommand(command: Command, context: CommandContext): Promise<CommandOutcome> {
  const { api, peers, print } = context;
  const printDetail = ({ detail }: { detail?: string }) => {
    if (detail !== undefined) print(detail);
  };
  const path = (prefix: string, user: string) => `${prefix}/${encodeURIComponent(user)}`;

  switch (command.name) {
    case "message":
      printDetail(await api.call("POST", "/messages", detailAnswer, { to: command.to, text: command.text }));
      break;
    case "broadcast":
      printDetail(await api.call("POST", "/broadcasts", detailAnswer, { text: command.text }));
      break;
    case "whoelse":
    case "whoelsesince": {
      const query = command.name === "whoelsesince" ? `?since=${command.seconds}` : "";
      const { users } = await api.call("GET", `/users/online${query}`, usersAnswer);
      for (const user of users) if (user !== context.username) print(user);
      break;
    }
    case "block":
      printDetail(await api.call("PUT", path("/blocks", command.user), detailAnswer));
      break;
    case "unblock":
      printDetail(await api.call("DELETE", path("/blocks", command.user), detailAnswer));
      break;
    case "logout":
      await api.call("POST", "/logout", detailAnswer).catch(() => undefined); // leaving either way
      return "logged-out";
    case "startprivate":
      await startPrivate(command.user, context);
      break;
    case "private":
      peers.send(command.to, command.text);
      break;
    case "stopprivate": {
      const hadSession = peers.stop(command.user);
      try {
        await api.call("DELETE", path("/private", command.user), detailAnswer);
      } catch (error) {
        if (!hadSession) throw error; // the peer is told already; the server's view can lag behind
      }
      print(privateStoppedLine(command.user));
      break;
    }
    case "help":
      print(HELP_TEXT);
      break;
  }
  return "continue";
}

/** Asks the server where `user` listens and for the session's secret, then connects straight to them. */
async function startPrivate(user: string, context: CommandContext): Promise<void> {
  const { api, peers, print } = context;
  const path = `/private/${encodeURIComponent(user)}`;
  const answer = await api.call("POST", path, privateAnswer);
  try {
    await peers.connect(user, answer.address, answer.secret);
  } catch (error) {
    await api.call("DELETE", path, detailAnswer).catch(() => undefined); // the server need not keep a dead session
    throw error;
  }
  print(answer.detail ?? `Start private messaging with ${user}`);
}
