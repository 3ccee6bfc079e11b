import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectionsInUse } from "../../src/db/health.js";
import { createTestChat, passwordOf, startTestServer } from "../support/chat.js";
import { openTestDatabase } from "../support/database.js";
import { EventReader } from "../support/sse.js";
import { capturedObservability, sample } from "./capture.js";

const WAIT = { timeout: 15_000, interval: 20 };

describe("GET /metrics after a short session on a real server", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer(["hans", "luke", "yoda", "leia", "obiwan"]);
  });
  afterAll(() => server.close());

  const call = (method: string, path: string, token?: string, json?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(json ? { "content-type": "application/json" } : {}),
      },
      body: json ? JSON.stringify(json) : undefined,
    });
  const login = async (username: string, password = passwordOf(username)) =>
    call("POST", "/login", undefined, { username, password });
  const tokenOf = async (username: string) => ((await (await login(username)).json()) as { token: string }).token;
  const scrape = async () => {
    const response = await call("GET", "/metrics");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  it("counts requests, streams, sessions, sends, deliveries, lag, login failures and lockouts", async () => {
    const started = performance.now();
    const hans = await tokenOf("hans");
    const luke = await tokenOf("luke");
    const stream = new EventReader(await call("GET", "/events", luke));
    expect((await call("POST", "/messages", hans, { to: "luke", text: "Hey Dude" })).status).toBe(201);
    expect((await call("POST", "/broadcasts", hans, { text: "Hello everyone" })).status).toBe(201);
    await stream.next("message");
    await stream.next("broadcast");
    for (let attempt = 0; attempt < 3; attempt++) await login("yoda", "wrong");
    expect((await login("yoda")).status).toBe(423);
    expect((await login("nobody")).status).toBe(401);

    const during = await scrape();
    expect(sample(during, "chat_event_streams_open")).toBe(1);
    expect(sample(during, "chat_sessions_online")).toBe(2);
    expect(sample(during, "chat_messages_accepted_total")).toBe(1);
    expect(sample(during, "chat_broadcasts_accepted_total")).toBe(1);
    expect(sample(during, "chat_events_delivered_total", { type: "message" })).toBe(1);
    expect(sample(during, "chat_events_delivered_total", { type: "broadcast" })).toBe(1);
    expect(sample(during, "chat_events_delivered_total", { type: "private_started" })).toBe(0);
    expect(sample(during, "chat_delivery_lag_seconds_count", { type: "message" })).toBe(1);
    expect(sample(during, "chat_delivery_lag_seconds_count", { type: "broadcast" })).toBe(1);
    expect(sample(during, "chat_delivery_lag_seconds_bucket", { type: "message", le: "+Inf" })).toBe(1);
    // In seconds, from the send to the write: more than nothing, less than this test has taken.
    const lag = sample(during, "chat_delivery_lag_seconds_sum", { type: "message" })!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan((performance.now() - started) / 1000);
    expect(sample(during, "chat_login_failures_total", { reason: "wrong_password" })).toBe(3);
    expect(sample(during, "chat_login_failures_total", { reason: "locked" })).toBe(1);
    expect(sample(during, "chat_login_failures_total", { reason: "unknown_user" })).toBe(1);
    expect(sample(during, "chat_account_lockouts_total")).toBe(1);
    expect(sample(during, "chat_event_streams_cut_off_total")).toBe(0);
    expect(sample(during, "chat_database_connections_in_use")).toBeGreaterThanOrEqual(0);
    expect(
      sample(during, "chat_http_request_duration_seconds_count", { method: "POST", route: "/messages", status: "201" }),
    ).toBe(1);
    expect(sample(during, "chat_http_request_duration_seconds_count", { method: "POST", route: "/login", status: "423" })).toBe(
      2,
    ); // the third wrong password, then the try during the lock
    expect(sample(during, "chat_http_request_duration_seconds_count", { method: "GET", route: "/events", status: "200" })).toBe(
      1,
    );
    // The default process metrics of prom-client.
    expect(sample(during, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sample(during, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(during).toContain("# TYPE chat_delivery_lag_seconds histogram");

    await stream.close();
    expect((await call("POST", "/logout", hans)).status).toBe(204);
    await vi.waitFor(async () => expect(sample(await scrape(), "chat_event_streams_open")).toBe(0), WAIT);
    const after = await scrape();
    expect(sample(after, "chat_sessions_online")).toBe(1);
    expect(
      sample(after, "chat_http_request_duration_seconds_count", { method: "GET", route: "/metrics", status: "200" }),
    ).toBeGreaterThan(0);
  });

  it("counts presence notices delivered to open streams", async () => {
    const leia = await tokenOf("leia");
    const stream = new EventReader(await call("GET", "/events", leia));
    await vi.waitFor(async () => expect(sample(await scrape(), "chat_event_streams_open")).toBe(1), WAIT);
    const before = sample(await scrape(), "chat_events_delivered_total", { type: "presence" });
    const obiwan = await tokenOf("obiwan");
    expect((await stream.next("presence")).data).toMatchObject({ username: "obiwan", status: "online" });
    expect(sample(await scrape(), "chat_events_delivered_total", { type: "presence" })).toBe((before ?? 0) + 1);
    await stream.close();
    await call("POST", "/logout", obiwan);
    await call("POST", "/logout", leia);
  });
});

describe("database connections in use", () => {
  it("counts this pool's connections busy in a transaction (none on the embedded PGlite)", async () => {
    const database = await openTestDatabase();
    try {
      const client = database.sql;
      if (!client) {
        expect(await connectionsInUse(database.db)).toBe(0);
        return;
      }
      expect(await connectionsInUse(database.db)).toBe(0);
      await client.begin(async (transaction) => {
        await transaction`select 1`;
        expect(await connectionsInUse(database.db)).toBe(1);
      });
      expect(await connectionsInUse(database.db)).toBe(0);
    } finally {
      await database.close();
    }
  });
});

describe("a stream cut off for being slow", () => {
  it("is counted, and logged with that reason", async () => {
    const logs = capturedObservability();
    const chat = await createTestChat({ streamBufferBytes: 4096 }, { observability: logs.observability });
    try {
      const { hans, luke } = await chat.users("hans", "luke");
      const hansToken = await chat.login(hans);
      const lukeToken = await chat.login(luke);
      // Opened and never read: everything written piles up in the stream's buffer.
      const unread = await chat.request("GET", "/events", { token: lukeToken });
      expect(unread.status).toBe(200);
      await vi.waitFor(async () => {
        const metrics = await (await chat.request("GET", "/metrics")).text();
        expect(sample(metrics, "chat_event_streams_open")).toBe(1);
      }, WAIT);
      for (let sent = 0; sent < 3; sent++) {
        await chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "x".repeat(4000) } });
      }
      await vi.waitFor(async () => {
        const metrics = await (await chat.request("GET", "/metrics")).text();
        expect(sample(metrics, "chat_event_streams_cut_off_total")).toBe(1);
        expect(sample(metrics, "chat_event_streams_open")).toBe(0);
      }, WAIT);
      expect(logs.entries().filter((entry) => entry.event === "stream_closed" && entry.user === luke)).toEqual([
        expect.objectContaining({ reason: "slow_reader", level: 40 }),
      ]);
      await unread.body?.cancel().catch(() => {});
    } finally {
      await chat.close();
    }
  });
});
