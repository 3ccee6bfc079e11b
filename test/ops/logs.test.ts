import { execFileSync } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app.js";
import { decodeJwt } from "jose";
import { createLogger } from "../../src/observability/logger.js";
import { sessionTag } from "../../src/observability/telemetry.js";
import { createChatContext } from "../../src/server.js";
import { createTestChat, passwordOf, testConfig, type TestChat } from "../support/chat.js";
import { openTestDatabase } from "../support/database.js";
import { capturedObservability, type LogEntry } from "./capture.js";

let logs: ReturnType<typeof capturedObservability>;
let chat: TestChat;
beforeAll(async () => {
  logs = capturedObservability();
  chat = await createTestChat({}, { observability: logs.observability });
});
afterAll(() => chat.close());

/** Generous: these tests share the machine with others. */
const WAIT = { timeout: 15_000, interval: 20 };

const requestLines = () => logs.entries().filter((entry) => entry.route !== undefined);
const linesOf = (event: string, user: string) => logs.entries().filter((entry) => entry.event === event && entry.user === user);

describe("request logs", () => {
  it("writes one JSON line per request with its id, method, route pattern, path, status, duration and caller", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const response = await chat.request("PUT", `/blocks/${luke}`, { token });
    expect(response.status).toBe(200);
    const requestId = response.headers.get("x-request-id");
    expect(requestId).toBeTruthy();

    const lines = requestLines().filter((entry) => entry.reqId === requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      method: "PUT",
      route: "/blocks/{username}",
      path: `/blocks/${luke}`,
      status: 200,
      durationMs: expect.any(Number),
      user: hans,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it("gives a problem the same request id in its body, its X-Request-Id header and its log line", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const response = await chat.request("POST", "/messages", { token, json: { to: "nobody_at_all", text: "hi" } });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { requestId: string };
    expect(response.headers.get("x-request-id")).toBe(body.requestId);
    expect(requestLines().filter((entry) => entry.reqId === body.requestId)).toEqual([
      expect.objectContaining({ method: "POST", route: "/messages", status: 404 }),
    ]);
  });

  it("keeps a request id the client or a proxy sent", async () => {
    const response = await chat.request("GET", "/health", { headers: { "x-request-id": "edge-1234" } });
    expect(response.headers.get("x-request-id")).toBe("edge-1234");
    expect(requestLines().filter((entry) => entry.reqId === "edge-1234")).toEqual([
      expect.objectContaining({ route: "/health", status: 200 }),
    ]);
  });

  it("labels paths that match no route as one route, and problem+json carries the id there too", async () => {
    const response = await chat.request("GET", "/no/such/thing/42");
    const body = (await response.json()) as { requestId: string };
    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe(body.requestId);
    expect(requestLines().find((entry) => entry.reqId === body.requestId)).toMatchObject({
      route: "(unmatched)",
      path: "/no/such/thing/42",
      status: 404,
    });

    const wrongMethod = await chat.request("DELETE", "/health");
    expect(wrongMethod.status).toBe(405);
    const wrongMethodId = wrongMethod.headers.get("x-request-id");
    expect(((await wrongMethod.json()) as { requestId: string }).requestId).toBe(wrongMethodId);
    expect(requestLines().find((entry) => entry.reqId === wrongMethodId)).toMatchObject({ method: "DELETE", status: 405 });
  });

  it("never writes tokens (header or access_token query), passwords or message texts", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const wrong = await chat.request("POST", "/login", { json: { username: hans, password: "not-the-pw-Xyzzy" } });
    expect(wrong.status).toBe(401);
    const stream = await chat.events("", {}, `?access_token=${encodeURIComponent(lukeToken)}`);
    const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "secret plans Q7" } });
    expect(sent.status).toBe(201);
    await chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "public words Z9" } });
    await stream.next("broadcast");
    await stream.close();
    await chat.request("POST", "/logout", { token: lukeToken });

    const written = logs.text();
    for (const secret of [
      hansToken,
      lukeToken,
      passwordOf(hans),
      passwordOf(luke),
      "not-the-pw-Xyzzy",
      "secret plans Q7",
      "public words Z9",
    ]) {
      expect(written).not.toContain(secret);
    }
    expect(written).not.toContain("access_token");
    expect(requestLines().filter((entry) => entry.user === luke && entry.route === "/events")).toEqual([
      expect.objectContaining({ path: "/events", status: 200 }),
    ]);
  });
});

describe("a failing request", () => {
  it("is logged at error level with the error, under the id its problem body quotes", async () => {
    const failing = capturedObservability();
    const database = await openTestDatabase({ broken: true });
    const domain = await createChatContext(database, testConfig(), failing.observability);
    const app = createApp(domain.context, { observability: failing.observability });
    try {
      await database.close(); // every query fails from here on
      const response = await app.request("/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "hans", password: "falcon" }),
      });
      expect(response.status).toBeGreaterThanOrEqual(500);
      const body = (await response.json()) as { requestId: string; detail: string };
      const line = failing.entries().find((entry) => entry.reqId === body.requestId && entry.route === "/login");
      expect(line).toMatchObject({
        level: 50,
        status: response.status,
        err: { message: expect.any(String), stack: expect.any(String) },
      });
      expect(JSON.stringify(body)).not.toContain("stack");
    } finally {
      await domain.stop();
    }
  });
});

describe("stream and session logs", () => {
  it("logs a session's start and its end with the reason, once each", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await chat.request("POST", "/logout", { token });
    await chat.request("POST", "/logout", { token }); // a second logout is refused, not logged as an end

    // The raw session id is never written, only a short hash of it (the id with the data folder is a session).
    const sessionId = String(decodeJwt(token).sid);
    expect(sessionTag(sessionId)).toMatch(/^[0-9a-f]{12}$/);
    expect(linesOf("session_started", hans)).toEqual([expect.objectContaining({ session: sessionTag(sessionId) })]);
    expect(linesOf("session_ended", hans)).toEqual([expect.objectContaining({ session: sessionTag(sessionId) })]);
    expect(logs.text()).not.toContain(sessionId);
    expect(linesOf("session_ended", hans)).toEqual([expect.objectContaining({ reason: "logout" })]);
  });

  it("logs a stream's opening and its closing with the reason, once each", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const first = await chat.events(token);
    await first.close();
    await vi.waitFor(() => expect(linesOf("stream_closed", hans)).toHaveLength(1), WAIT);

    const second = await chat.events(token, { "last-event-id": "0" });
    await chat.request("POST", "/logout", { token });
    await second.closed();
    await vi.waitFor(() => expect(linesOf("stream_closed", hans)).toHaveLength(2), WAIT);

    const opened = linesOf("stream_opened", hans);
    const closed = linesOf("stream_closed", hans);
    expect(opened).toHaveLength(2);
    expect(opened[1]).toMatchObject({ lastEventId: "0" });
    expect(closed.map((entry) => entry.reason)).toEqual(["client_closed", "session_ended"]);
    // Each stream's lines carry the id of the request that opened it.
    expect(closed.map((entry) => entry.reqId)).toEqual(opened.map((entry) => entry.reqId));
    const streamRequests = requestLines().filter((entry) => entry.route === "/events" && entry.user === hans);
    expect(streamRequests.map((entry) => entry.reqId)).toEqual(opened.map((entry) => entry.reqId));
  });

  it("logs a session ended by the inactivity timeout with that reason", async () => {
    const idle = capturedObservability();
    const shortChat = await createTestChat({ timeoutSeconds: 1 }, { observability: idle.observability });
    try {
      const { hans } = await shortChat.users("hans");
      const stream = await shortChat.events(await shortChat.login(hans));
      await stream.closed(15_000);
      await vi.waitFor(() => {
        const ends = idle.entries().filter((entry: LogEntry) => entry.event === "session_ended" && entry.user === hans);
        expect(ends).toEqual([expect.objectContaining({ reason: "timeout" })]);
      }, WAIT);
      expect(idle.entries().filter((entry) => entry.event === "stream_closed" && entry.user === hans)).toEqual([
        expect.objectContaining({ reason: "session_ended" }),
      ]);
    } finally {
      await shortChat.close();
    }
  });

  it("logs login failures and a lockout with the username, never the password", async () => {
    const { yoda } = await chat.users("yoda");
    for (let attempt = 0; attempt < 3; attempt++) {
      await chat.request("POST", "/login", { json: { username: yoda, password: `guess-${attempt}-Qq` } });
    }
    expect(linesOf("login_failed", yoda).map((entry) => entry.reason)).toEqual([
      "wrong_password",
      "wrong_password",
      "wrong_password",
    ]);
    expect(linesOf("account_locked", yoda)).toEqual([expect.objectContaining({ level: 40 })]);
    expect(logs.text()).not.toMatch(/guess-\d-Qq/);
  });
});

describe("the logger", () => {
  it("writes the lines it gathered for standard output when the process exits", { timeout: 60_000 }, () => {
    const logger = fileURLToPath(new URL("../../src/observability/logger.ts", import.meta.url));
    const script =
      `import { createLogger } from ${JSON.stringify(logger)};` +
      `createLogger({ logLevel: "info", pretty: false }).info({ user: "hans" }, "last words"); process.exit(0);`;
    const stdout = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(
      stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([expect.objectContaining({ level: 30, msg: "last words", user: "hans" })]);
  });

  it("writes only at or above its level, as JSON unless asked to be readable", () => {
    const lines: string[] = [];
    const destination = { write: (line: string) => void lines.push(line) };
    const logger = createLogger({ logLevel: "warn", destination, pretty: false });
    logger.info("not written");
    logger.warn({ user: "hans" }, "written");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: "written", user: "hans" });

    const readable: string[] = [];
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        readable.push(chunk.toString());
        done();
      },
    });
    createLogger({ logLevel: "info", destination: terminal, pretty: true }).info({ user: "hans" }, "session started: hans");
    expect(readable.join("")).toContain("session started: hans");
    expect(() => JSON.parse(readable.join(""))).toThrow();
  });

  it("escapes control characters in the terminal format, so a name cannot forge a line or a colour", () => {
    const readable: string[] = [];
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        readable.push(chunk.toString());
        done();
      },
    });
    const forged = "eve\n12:00:00.000 INFO: session started: admin\u001b[2K\u202e";
    createLogger({ logLevel: "info", destination: terminal, pretty: true }).info(
      { event: "login_failed", user: forged, nested: { name: forged } },
      `login refused: ${forged}`,
    );
    const output = readable.join("");
    expect(output.trimEnd().split("\n")).toHaveLength(1);
    expect(output).not.toContain("\u001b");
    expect(output).not.toContain("\u202e");
    expect(output).toContain("eve\\u000a12:00:00.000 INFO: session started: admin\\u001b[2K\\u202e");
  });

  it("redacts credentials, private-session secrets and texts even when a caller hands them in", () => {
    const lines: string[] = [];
    const logger = createLogger({
      logLevel: "info",
      destination: { write: (line: string) => void lines.push(line) },
      pretty: false,
    });
    logger.info({ password: "pw1", token: "tok1", text: "words1", headers: { authorization: "Bearer tok2" } }, "careless");
    logger.info({ secret: "sec1", session: { secret: "sec2" } }, "careless");
    expect(lines.join("")).not.toMatch(/pw1|tok1|words1|tok2|sec1|sec2/);
  });
});
