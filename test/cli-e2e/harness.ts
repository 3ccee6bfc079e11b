import { spawn } from "node:child_process";
import { PassThrough, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, expect, vi } from "vitest";
import { createClient } from "../../src/cli/client.js";
import { queryRows } from "../../src/db/client.js";
import { VirtualScreen } from "../cli/virtual-screen.js";
import { passwordOf, startTestServer, type TestSettings } from "../support/chat.js";

/**
 * Real clients against the real server on loopback: each client is `createClient` on PassThrough
 * streams (or a `node src/cli/main.ts` process), talking HTTP and SSE to a server started in-process,
 * and TCP to each other for private messaging.
 */

export const WELCOME = "Welcome to the greatest messaging application ever!";

/** Generous: two busy cores run the server, several clients and the other test file at once. */
export const WAIT_MS = 15_000;

const root = fileURLToPath(new URL("../..", import.meta.url));

export type ChatServer = Awaited<ReturnType<typeof startTestServer>>;

/** A client whose screen is a plain text log, as when its output is a pipe. */
export type PipedClient = {
  readonly exit: Promise<number>;
  output(): string;
  type(...lines: string[]): void;
  /** Ends the input, as Ctrl+D does. */
  endInput(): void;
  /** Waits until the output contains `text`. */
  sees(text: string): Promise<void>;
  stop(): Promise<void>;
};

/** A client on an interactive terminal (line editing, prompt), drawn on a virtual screen. */
export type TerminalClient = {
  readonly exit: Promise<number>;
  readonly screen: VirtualScreen;
  /** Types key by key, as a person does. */
  type(keys: string): Promise<void>;
  /** Waits until some row of the screen contains `text`. */
  sees(text: string): Promise<void>;
  stop(): Promise<void>;
};

const running: Array<{ stop(): Promise<void> }> = [];

/**
 * A real server for the tests of one file, whose credentials file holds `usernames` (password
 * passwordOf(name)); every client a test starts is stopped (logged out) after it. Starting a server
 * means loading a fresh database, the slowest step here, so a file shares one: each test uses its own
 * users from the list.
 */
export function useChatServer(usernames: string[], settings: TestSettings = {}): () => ChatServer {
  let server: ChatServer | undefined;
  beforeAll(async () => {
    server = await startTestServer(usernames, settings);
  });
  afterEach(async () => {
    for (const client of running.splice(0).reverse()) await client.stop();
    // logIn() counts open streams: the next test starts once the server has closed this one's.
    if (server !== undefined) await waitForStreams(server, (count) => count === 0);
  });
  afterAll(() => server?.close());
  return () => {
    if (server === undefined) throw new Error("the chat server has not started");
    return server;
  };
}

const textLog = () => {
  let written = "";
  const output = new Writable({
    write(chunk, _encoding, callback) {
      written += String(chunk);
      callback();
    },
  });
  return { output, written: () => written };
};

function pipedClient(
  written: () => string,
  write: (text: string) => void,
  end: () => void,
  exit: Promise<number>,
  kill: () => void,
): PipedClient {
  let exited = false;
  const markExited = () => void (exited = true);
  exit.then(markExited, markExited);
  const client: PipedClient = {
    exit,
    output: written,
    type: (...lines) => {
      for (const line of lines) write(`${line}\n`);
    },
    endInput: end,
    sees: (text) => vi.waitFor(() => expect(written()).toContain(text), { timeout: WAIT_MS, interval: 20 }),
    async stop() {
      if (exited) return;
      end();
      const stopped = await Promise.race([exit.then(() => true), sleep(WAIT_MS).then(() => false)]);
      if (!stopped) kill();
    },
  };
  running.push(client);
  return client;
}

/** A client in this process, on in-memory pipes; `lines` are typed at once. */
export function startClient(server: Pick<ChatServer, "url">, ...lines: string[]): PipedClient {
  const input = new PassThrough();
  const log = textLog();
  const exit = createClient({ input, output: log.output, baseUrl: server.url, terminal: false }).run();
  const client = pipedClient(
    log.written,
    (text) => input.write(text),
    () => input.end(),
    exit,
    () => input.destroy(),
  );
  client.type(...lines);
  return client;
}

const clientCommands = {
  /** What `npm run client -- 127.0.0.1 <port>` runs. */
  npm: ["--import", "tsx", "src/cli/main.ts"],
  /** The `chat-client` bin of package.json. */
  bin: ["bin/chat-client.js"],
};

/** The client as a process of its own, on piped stdio, started one of the two documented ways. */
export function startClientProcess(server: ChatServer, how: keyof typeof clientCommands, ...lines: string[]): PipedClient {
  const child = spawn(process.execPath, [...clientCommands[how], "127.0.0.1", String(server.port)], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.on("error", () => undefined); // a line typed after the client exited goes nowhere
  let written = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (written += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (written += chunk));
  const exit = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? -1)));
  const client = pipedClient(
    () => written,
    (text) => child.stdin.write(text),
    () => child.stdin.end(),
    exit,
    () => child.kill("SIGKILL"),
  );
  client.type(...lines);
  return client;
}

/** Logs `username` in and waits until their event stream is open, so nothing sent to them afterwards is missed. */
export async function logIn(
  server: ChatServer,
  username: string,
  start: (server: ChatServer, ...lines: string[]) => PipedClient = startClient,
): Promise<PipedClient> {
  const streamsBefore = server.context.hub.streamCount();
  const client = start(server, username, passwordOf(username));
  await client.sees(`${WELCOME}\n`);
  await waitForStreams(server, (count) => count > streamsBefore);
  return client;
}

/** Waits until the number of event streams the server has open passes `check`. */
function waitForStreams(server: ChatServer, check: (count: number) => boolean): Promise<void> {
  return vi.waitFor(() => expect(check(server.context.hub.streamCount())).toBe(true), {
    timeout: WAIT_MS,
    interval: 20,
  });
}

/** A client on a terminal 80 columns wide, logged in as `username`. */
export async function logInOnTerminal(server: ChatServer, username: string): Promise<TerminalClient> {
  const input = new PassThrough();
  const screen = new VirtualScreen(80);
  const exit = createClient({ input, output: screen, baseUrl: server.url, terminal: true }).run();
  let exited = false;
  const markExited = () => void (exited = true);
  exit.then(markExited, markExited);
  const rows = () => screen.lines.join("\n");
  const client: TerminalClient = {
    exit,
    screen,
    async type(keys) {
      for (const key of keys) {
        input.write(key);
        await sleep(1); // one key at a time: a whole chunk at once is a paste, which readline draws differently
      }
    },
    sees: (text) => vi.waitFor(() => expect(rows()).toContain(text), { timeout: WAIT_MS, interval: 20 }),
    async stop() {
      if (exited) return;
      input.end();
      await Promise.race([exit, sleep(WAIT_MS)]);
    },
  };
  running.push(client);
  const streamsBefore = server.context.hub.streamCount();
  await client.type(`${username}\r`);
  await client.type(`${passwordOf(username)}\r`);
  await client.sees(WELCOME);
  await waitForStreams(server, (count) => count > streamsBefore);
  return client;
}

/** Logs in over HTTP, as a script would; returns the token. */
export async function apiLogin(server: ChatServer, username: string): Promise<string> {
  const response = await fetch(`${server.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: passwordOf(username) }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

/** The texts of the token holder's history with `other`, newest first, read through GET /messages. */
export async function historyTexts(server: ChatServer, token: string, other: string): Promise<string[]> {
  const response = await fetch(`${server.url}/messages?with=${other}&limit=100`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { messages: Array<{ text: string }> };
  return body.messages.map((message) => message.text);
}

/** Every row of every table in the server's database, as JSON text: to prove something was never stored. */
export async function everythingStored(server: ChatServer): Promise<string> {
  const tables = await queryRows<{ name: string }>(
    server.database.db,
    sql`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
  );
  expect(tables.map((table) => table.name)).toContain("messages");
  const dumps: string[] = [];
  for (const { name } of tables) {
    const rows = await queryRows<{ row: string }>(
      server.database.db,
      sql`select row_to_json(t)::text as row from ${sql.identifier(name)} t`,
    );
    dumps.push(...rows.map((row) => row.row));
  }
  return dumps.join("\n");
}
