import type { Readable, Writable } from "node:stream";
import { createApi } from "./api.js";
import { logIn } from "./login.js";
import * as notices from "./notices.js";
import { listenForPeers, type PeerEvents } from "./peer-network.js";
import { runSession, type SessionEnd } from "./session.js";
import { createTerminalPrompt, type TerminalPrompt } from "./terminal-prompt.js";

export type ClientOptions = {
  input: Readable;
  output: Writable & { columns?: number };
  /** The chat server, e.g. http://127.0.0.1:4000 */
  baseUrl: string;
  /** True for an interactive terminal (line editing, hidden password, redrawn prompt); false for pipes. */
  terminal: boolean;
  /**
   * The address to listen on for private messaging and to give the server for peers to use.
   * By default loopback when the server is on loopback; otherwise every interface, and the server
   * tells peers the address our login came from.
   */
  peerHost?: string;
};

export type ChatClient = {
  /** Logs in and runs commands until logout, timeout or end of input; resolves with the exit code. */
  run(): Promise<number>;
};

export function createClient(options: ClientOptions): ChatClient {
  return { run: () => runClient(options) };
}

async function runClient(options: ClientOptions): Promise<number> {
  const prompt = createTerminalPrompt(options);
  const peerHost = options.peerHost ?? loopbackPeerHost(options.baseUrl);
  const peers = await listenForPeers({ host: peerHost, events: peerNotices(prompt) }).catch((error: unknown) => {
    prompt.close();
    throw error;
  });
  let end: SessionEnd = { exitCode: 1, peerReason: "logout" };
  try {
    const api = createApi(options.baseUrl);
    const login = await logIn({ prompt, api, p2pPort: peers.port, p2pHost: peerHost });
    if (login.kind === "gave-up") return login.exitCode;
    peers.identify(login.username);
    const { token, username } = login;
    end = await runSession({ baseUrl: options.baseUrl, token, username, prompt, peers });
    return end.exitCode;
  } finally {
    await peers.close(end.peerReason);
    prompt.close(end.lastLine);
  }
}

/** What the user sees of their private sessions. */
function peerNotices(prompt: TerminalPrompt): PeerEvents {
  return {
    onOpened: (peer) => prompt.print(notices.privateOpenedLine(peer)),
    onMessage: (peer, text) => prompt.print(notices.privateLine(peer, text)),
    onEnded: (peer, reason) => prompt.print(notices.privateEndedLine(peer, reason)),
  };
}

/** Peers of a client talking to a server on loopback are on this machine too: listen there only. */
function loopbackPeerHost(baseUrl: string): string | undefined {
  const { hostname } = new URL(baseUrl);
  const loopback = hostname === "localhost" || hostname === "[::1]" || hostname.startsWith("127.");
  return loopback ? "127.0.0.1" : undefined;
}
