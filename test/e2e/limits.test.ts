import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import { startTestServer } from "../support/chat.js";
import { httpClient, names } from "./client.js";

type RawAnswer = { status: number; headers: Record<string, string>; body: string };

/** A raw connection to the server: counted by it as soon as it is accepted, whether it sends anything or not. */
function openSocket(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  let received = "";
  let closed = false;
  socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk));
  socket.on("error", () => {});
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve(void (closed = true))));
  const connected = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return {
    socket,
    connected,
    ended,
    closed: () => closed,
    /** Sends one request (keep-alive unless told) and resolves with its answer's head and body. */
    async request(path: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
      await connected;
      const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join("")}\r\n`);
      await waitUntil(() => answerOf(received) !== undefined, `an answer to GET ${path}`);
      return answerOf(received)!;
    },
  };
}

/** The first answer in `text` once its head and, with a Content-Length, its whole body are in (an event stream's head alone). */
function answerOf(text: string): RawAnswer | undefined {
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return undefined;
  const [statusLine = "", ...headerLines] = text.slice(0, split).split("\r\n");
  const headers = Object.fromEntries(
    headerLines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
  );
  const body = text.slice(split + 4);
  if (body.length < Number(headers["content-length"] ?? 0)) return undefined;
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

describe("connections per process (--max-connections)", () => {
  const MAX_CONNECTIONS = 3;
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const sockets: ReturnType<typeof openSocket>[] = [];
  beforeAll(async () => {
    server = await startTestServer([names("hans").hans], {}, { config: { maxConnections: MAX_CONNECTIONS } });
  });
  afterAll(async () => {
    for (const { socket } of sockets) socket.destroy();
    await server?.close();
  });
  const open = () => {
    const socket = openSocket(server.port);
    sockets.push(socket);
    return socket;
  };

  it("answers a request on one connection too many 503 problem+json with Retry-After, closes it, and serves again once one goes", async () => {
    const held = Array.from({ length: MAX_CONNECTIONS }, open);
    await Promise.all(held.map(({ connected }) => connected));
    expect((await held[0]!.request("/health")).status).toBe(200);

    const extra = open();
    const refused = await extra.request("/health");
    expect(refused.status).toBe(503);
    expect(refused.headers["content-type"]).toBe("application/problem+json");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.headers.connection).toBe("close");
    expect(JSON.parse(refused.body)).toMatchObject({ status: 503, code: "service_unavailable", retryAfter: 1 });
    await extra.ended;

    // The connections within the cap are served as before.
    expect((await held[1]!.request("/health")).status).toBe(200);

    held[2]!.socket.destroy();
    await held[2]!.ended;
    await waitUntil(async () => (await open().request("/health", { connection: "close" })).status === 200, "a free slot");
  });
});

describe("event streams per session on a real server (--max-streams-per-session)", () => {
  const users = names("hans");
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer(Object.values(users), { maxStreamsPerSession: 2 });
  });
  afterAll(() => server?.close());

  it("refuses the third stream with a whole 429 problem+json, not a half-written event stream", async () => {
    const token = await httpClient(server).login(users.hans);
    const streams = [openSocket(server.port), openSocket(server.port)];
    for (const stream of streams)
      expect((await stream.request("/events", { authorization: `Bearer ${token}` })).status).toBe(200);
    const third = await openSocket(server.port).request("/events", { authorization: `Bearer ${token}` });
    expect(third.status).toBe(429);
    expect(third.headers["content-type"]).toBe("application/problem+json");
    expect(JSON.parse(third.body)).toMatchObject({
      code: "too_many_streams",
      detail: expect.stringContaining("2 event streams"),
    });
    for (const { socket } of streams) socket.destroy();
  });
});
