import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DURABLE_EVENT_TYPES, EVENT_DATA, type EventType } from "../../src/chat/events.js";
import { passwordOf, startTestServer } from "../support/chat.js";
import { EventReader, type ReceivedEvent } from "../support/sse.js";

let server: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  server = await startTestServer(["luke", "hans"]);
});
afterAll(() => server?.close());

async function call(method: string, path: string, token?: string, json?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(server.url + path, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : await response.json();
}

const login = async (username: string) =>
  ((await call("POST", "/login", undefined, { username, password: passwordOf(username), p2pPort: 40_000 })) as { token: string })
    .token;

async function stream(token: string, lastEventId?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
  return new EventReader(await fetch(`${server.url}/events`, { headers }));
}

describe("the event schemas of the OpenAPI document", () => {
  it("describe every event a real stream sends, field for field", async () => {
    const luke = await login("luke");
    const live = await stream(luke);
    const resumed = await stream(luke, "not-an-id");
    await resumed.next("resync");

    const hans = await login("hans");
    await live.next("presence");
    await call("POST", "/messages", hans, { to: "luke", text: "Hey Dude" });
    await call("POST", "/broadcasts", hans, { text: "Hello everyone" });
    await call("POST", "/private/luke", hans);
    await live.next("private_started");
    await call("DELETE", "/private/luke", hans);
    await live.next("private_stopped");
    await call("POST", "/logout", hans);
    await live.next("presence");
    await call("POST", "/logout", luke);
    await Promise.all([live.closed(), resumed.closed()]);

    const received: ReceivedEvent[] = [...live.events, ...resumed.events];
    const types = new Set(received.map((event) => event.event));
    expect([...types].sort()).toEqual(Object.keys(EVENT_DATA).sort());
    for (const event of received) {
      const type = event.event as EventType;
      const parsed = EVENT_DATA[type].safeParse(event.data);
      expect(parsed.error?.issues, `${type} ${JSON.stringify(event.data)}`).toBeUndefined();
      // Durable events carry the id a client resumes from; live ones never move it.
      expect(event.id !== undefined, `id of ${type}`).toBe((DURABLE_EVENT_TYPES as readonly string[]).includes(type));
    }
  });
});
