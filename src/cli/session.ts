import { createApi } from "./api.js";
import { parseCommand } from "./commands.js";
import { openEventStream } from "./event-stream.js";
import * as notices from "./notices.js";
import type { PeerNetwork } from "./peer-network.js";
import { runLine, type CommandContext } from "./run-command.js";
import { parseServerEvent, type ServerEvent } from "./server-events.js";
import type { TerminalPrompt } from "./terminal-prompt.js";

/** How a session finished: the exit code, a last line to print, and what to tell private peers. */
export type SessionEnd = { exitCode: number; lastLine?: string; peerReason: "logout" | "timeout" };

export type SessionContext = {
  baseUrl: string;
  token: string;
  username: string;
  prompt: TerminalPrompt;
  peers: PeerNetwork;
};

/** Runs a logged-in session: commands from the prompt, deliveries from the event stream, until it ends. */
export async function runSession(context: SessionContext): Promise<SessionEnd> {
  const { baseUrl, token, prompt, peers } = context;
  let endedAs: SessionEnd | undefined;
  let resolveEnded: (end: SessionEnd) => void = () => undefined;
  const ended = new Promise<SessionEnd>((resolve) => (resolveEnded = resolve));
  const endSession = (end: SessionEnd) => {
    endedAs ??= end;
    resolveEnded(endedAs);
  };

  const stream = openEventStream({
    baseUrl,
    token,
    onEvent: (eventName, data) => {
      const event = parseServerEvent(eventName, data);
      if (event !== undefined) handleServerEvent(event, context, endSession);
    },
    onUnauthorized: () => endSession({ exitCode: 1, lastLine: notices.SESSION_GONE_LINE, peerReason: "logout" }),
  });
  const commands: CommandContext = {
    api: createApi(baseUrl, token),
    username: context.username,
    peers,
    print: (line) => prompt.print(line),
  };

  try {
    for (;;) {
      // The session may have ended while the last command ran: then lines typed meanwhile are not run.
      if (endedAs !== undefined) return endedAs;
      const next = await Promise.race([prompt.readCommand(), ended]);
      if (typeof next === "object") return next;
      // Input ended (Ctrl+D, Ctrl+C, the end of a pipe): leave as `logout` would.
      const line = next ?? "logout";
      const outcome = await runLine(parseCommand(line), commands);
      if (outcome === "logged-out") return { exitCode: 0, peerReason: "logout" };
      if (outcome === "session-ended") return { exitCode: 1, peerReason: "logout" };
    }
  } finally {
    await stream.close();
  }
}

function handleServerEvent(event: ServerEvent, context: SessionContext, endSession: (end: SessionEnd) => void): void {
  const { prompt, peers } = context;
  switch (event.type) {
    case "message":
    case "broadcast":
      return prompt.print(notices.deliveryLine(event.from, event.text));
    case "presence":
      return prompt.print(notices.presenceLine(event.username, event.status));
    case "private_started":
      return peers.expectPeer(event.from, event.secret);
    case "private_stopped":
      return peers.endedByServer(event.from, event.reason);
    case "resync":
      return prompt.print(notices.RESYNC_LINE);
    case "session_ended":
      return endSession(
        event.reason === "timeout"
          ? { exitCode: 0, lastLine: notices.TIMEOUT_LINE, peerReason: "timeout" }
          : { exitCode: 0, lastLine: notices.LOGGED_OUT_LINE, peerReason: "logout" },
      );
  }
}
