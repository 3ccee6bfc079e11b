import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import { startTestServer } from "../support/chat.js";
import { httpClient, names } from "./client.js";

// The server writes each event stream to node:http's response itself (no web stream): these run
// it over real sockets, where the in-process tests cannot reach.
const BUFFER_BYTES = 64 * 1024;
const users = names("hans", "luke", "yoda");

let server: Awaited<ReturnType<typeof startTestServer>>;
let client: ReturnType<typeof httpClient>;
beforeAll(async () => {
  // A stream still catching up from the log when its reader stops waits for room instead (replay
  // goes at the reader's pace) and is cut off by the next ping: pings every second keep that short.
  server = await startTestServer(Object.values(users), { streamBufferBytes: BUFFER_BYTES, pingIntervalSeconds: 1 });
  client = httpClient(server);
});
afterAll(() => server?.close());

/** GET /events over a raw socket that reads only when told to. */
function rawStream(token: string) {
  const socket: Socket = connect(server.port, "127.0.0.1");
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on("data", (chunk) => chunks.push(chunk));
  socket.on("close", () => (ended = true));
  socket.on("error", () => {});
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  return {
    socket,
    text: () => Buffer.concat(chunks).toString("utf8"),
    ended: () => ended,
  };
}

describe("event streams on a real socket", () => {
  it("answers with the SSE head, the request id and the retry line", async () => {
    const token = await client.login(users.yoda);
    const stream = rawStream(token);
    await waitUntil(() => stream.text().includes("retry: 1000"), "the first bytes", 20_000);
    const head = stream.text().split("\r\n\r\n")[0]!;
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/\r\ncontent-type: text\/event-stream; charset=utf-8/i);
    expect(head).toMatch(/\r\ncache-control: no-cache, no-transform/i);
    expect(head).toMatch(/\r\nx-request-id: \S+/i);
    expect(head).toMatch(/\r\ntransfer-encoding: chunked/i);
    expect(head.match(/\r\ncontent-type:/gi)).toHaveLength(1);

    // The client hanging up closes the stream on the server.
    const open = server.context.hub.streamCount();
    stream.socket.destroy();
    await waitUntil(() => server.context.hub.streamCount() === open - 1, "the server to close the stream", 20_000);
    await client.logout(token);
  });

  it("answers HEAD at once with the stream's head, no body and no stream left open", async () => {
    const token = await client.login(users.yoda);
    const open = server.context.hub.streamCount();
    const response = await fetch(`${server.url}/events`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("x-request-id")).toEqual(expect.any(String));
    expect(await response.text()).toBe("");
    expect(server.context.hub.streamCount()).toBe(open);
    await client.logout(token);
  });

  it("cuts off a reader that stops reading, and a resume with Last-Event-ID gets every message", async () => {
    const hansToken = await client.login(users.hans);
    const lukeToken = await client.login(users.luke);
    const stalled = rawStream(lukeToken);
    // Live first (one message through), so what follows is written as it comes, not replayed at the reader's pace.
    await waitUntil(() => stalled.text().includes("retry: 1000"), "the stream to open", 20_000);
    expect((await client.call("POST", "/messages", hansToken, { to: users.luke, text: "first" })).status).toBe(201);
    await waitUntil(() => stalled.text().includes("event: message"), "the first message", 20_000);
    stalled.socket.pause(); // nothing more is read: the kernel's buffers fill, then the server's

    // Far more than the kernel's socket buffers and the 64 KiB bound together.
    const text = "x".repeat(4000);
    let sent = 1;
    // Cut off on the server; the paused client only sees it once it reads again.
    const cutOff = () => server.context.hub.streamCount() === 0;
    const sendSome = async () => {
      while (!cutOff() && sent < 6000) {
        sent++;
        const answer = await client.call("POST", "/messages", hansToken, { to: users.luke, text });
        expect(answer.status).toBe(201);
      }
    };
    await Promise.all(Array.from({ length: 8 }, sendSome));
    await waitUntil(cutOff, "the slow reader to be cut off", 20_000);
    expect(sent).toBeLessThan(6000);

    stalled.socket.resume();
    await waitUntil(() => stalled.ended(), "the cut-off connection to end", 20_000);
    const ids = [...stalled.text().matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect(ids.length).toBeLessThan(sent);

    const resumed = await fetch(`${server.url}/events`, {
      headers: { authorization: `Bearer ${lukeToken}`, "last-event-id": String(ids.at(-1) ?? 0) },
    });
    const reader = resumed.body!.getReader();
    let replayed = "";
    const decoder = new TextDecoder();
    while ((replayed.match(/^event: message$/gm)?.length ?? 0) < sent - ids.length)
      replayed += decoder.decode((await reader.read()).value, { stream: true });
    const resumedIds = [...replayed.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect([...ids, ...resumedIds]).toEqual(Array.from({ length: sent }, (_, index) => index + 1));
    await reader.cancel();
    await client.logout(hansToken);
    await client.logout(lukeToken);
  }, 120_000);
});
