import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturedObservability } from "../ops/capture.js";
import { startTestServer } from "../support/chat.js";
import { httpClient, names } from "./client.js";

// On node:http the request id and the security headers go on node's response, not on the web
// Response the in-process tests read (test/ops/security-headers.test.ts, test/ops/logs.test.ts).
const users = names("hans", "luke");
const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

const logs = capturedObservability();
let server: Awaited<ReturnType<typeof startTestServer>>;
let client: ReturnType<typeof httpClient>;
beforeAll(async () => {
  server = await startTestServer(Object.values(users), {}, { observability: logs.observability });
  client = httpClient(server);
});
afterAll(() => server?.close());

function get(path: string, headers: Record<string, string> = {}, method = "GET") {
  return fetch(`${server.url}${path}`, { method, headers });
}

function expectSecurityHeaders(response: Response, what: string, policy = API_POLICY) {
  expect(response.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(response.headers.get("x-frame-options"), what).toBe("DENY");
  expect(response.headers.get("referrer-policy"), what).toBe("no-referrer");
  expect(response.headers.get("strict-transport-security"), what).toBe("max-age=15552000; includeSubDomains");
  expect(response.headers.get("cross-origin-resource-policy"), what).toBe("same-origin");
  expect(response.headers.get("content-security-policy"), what).toBe(policy);
}

describe("response headers on node:http", () => {
  it("are on JSON answers, problems and pages, each with one request id, the problem body's", async () => {
    const token = await client.login(users.hans);
    const answers: [string, Response][] = [
      ["health", await get("/health")],
      ["online", await get("/users/online", { authorization: `Bearer ${token}` })],
      ["unauthorized", await get("/users/online")],
      ["not found", await get("/no/such/route")],
      ["method not allowed", await get("/health", {}, "DELETE")],
      ["refused stream", await get("/events")],
      ["stream head only", await get("/events", { authorization: `Bearer ${token}` }, "HEAD")],
    ];
    const ids = new Set<string>();
    for (const [what, response] of answers) {
      expectSecurityHeaders(response, what);
      const id = response.headers.get("x-request-id") ?? "";
      expect(id, what).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(id);
      if (response.status >= 400) expect(((await response.json()) as { requestId: string }).requestId, what).toBe(id);
    }
    expect(ids.size).toBe(answers.length);

    const docs = await get("/docs");
    expect(docs.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(docs.headers.get("content-security-policy")).not.toMatch(/unsafe|\*|https?:/);
    expect(docs.headers.get("x-frame-options")).toBe("DENY");
    const page = await get("/");
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    expect(page.headers.get("content-security-policy")).not.toBe(docs.headers.get("content-security-policy"));
    await client.logout(token);
  });

  it("keep a usable request id the client sent and replace one that is not", async () => {
    const kept = await get("/health", { "x-request-id": "edge-1234_=" });
    expect(kept.headers.get("x-request-id")).toBe("edge-1234_=");
    for (const unusable of ["has space", "a".repeat(256), "semi;colon"]) {
      const replaced = await get("/health", { "x-request-id": unusable });
      expect(replaced.headers.get("x-request-id"), unusable).toMatch(/^[0-9a-f-]{36}$/);
    }
    const longest = "b".repeat(255);
    expect((await get("/health", { "x-request-id": longest })).headers.get("x-request-id")).toBe(longest);
  });

  it("leave the event stream's head to the stream: its own headers and the request id, nothing more", async () => {
    const token = await client.login(users.luke);
    const controller = new AbortController();
    const response = await fetch(`${server.url}/events`, {
      headers: { authorization: `Bearer ${token}`, "x-request-id": "stream-1" },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("x-request-id")).toBe("stream-1");
    expect(response.headers.get("content-security-policy")).toBeNull();
    expect(response.headers.get("x-frame-options")).toBeNull();
    // Nothing tried to add to a head already written: the request is logged as the 200 it was.
    expect(logs.entries().filter((entry) => entry.reqId === "stream-1")).toEqual([
      expect.objectContaining({ event: "stream_opened" }),
      expect.objectContaining({ route: "/events", status: 200, level: 30 }),
    ]);
    controller.abort();
    await client.logout(token);
  });
});
