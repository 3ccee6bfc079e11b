import { and, eq, isNull, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessions } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { EventReader } from "../support/sse.js";
import { endReasons, sendMessage, watchAttachments } from "./helpers.js";

let chat: TestChat;
let streams: ReturnType<typeof watchAttachments>;
beforeAll(async () => {
  chat = await createTestChat();
  streams = watchAttachments(() => chat.context.hub);
});
afterAll(() => chat.close());

/** Logs `username` in and opens a stream that is attached (so it sees live-only events from now on). */
async function loginWithStream(username: string) {
  const token = await chat.login(username);
  const stream = await streams.opened(username, () => chat.events(token));
  return { token, stream };
}

const logout = async (token: string) => expect((await chat.request("POST", "/logout", { token })).status).toBe(204);

const presenceAbout = (stream: EventReader, username: string) =>
  stream.events.filter((event) => event.event === "presence" && (event.data as { username: string }).username === username);

describe("presence", () => {
  it("tells other open streams when a user logs in and out, without an id", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const { stream } = await loginWithStream(hans);
    const lukeToken = await chat.login(luke);
    const online = await stream.next("presence");
    expect(online.id).toBeUndefined();
    expect(online.data).toEqual({ username: luke, status: "online", at: expect.any(String) });
    expect(Number.isNaN(Date.parse((online.data as { at: string }).at))).toBe(false);
    await logout(lukeToken);
    expect((await stream.next("presence")).data).toMatchObject({ username: luke, status: "offline" });
    await stream.close();
  });

  it("does not tell the users on the subject's block list", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const lukeFirst = await chat.login(luke);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeFirst })).status).toBe(200);
    await logout(lukeFirst);

    const blocked = await loginWithStream(hans);
    const bystander = await loginWithStream(yoda);
    const lukeToken = await chat.login(luke);
    expect((await bystander.stream.next("presence")).data).toMatchObject({ username: luke, status: "online" });
    await logout(lukeToken);
    expect((await bystander.stream.next("presence")).data).toMatchObject({ username: luke, status: "offline" });
    // Both notices reached yoda; hans, on luke's block list, got neither.
    await blocked.stream.quietFor(200);
    expect(presenceAbout(blocked.stream, luke)).toEqual([]);
    await blocked.stream.close();
    await bystander.stream.close();
  });

  it("still tells a user who blocked the subject (only the subject's own list counts)", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const blocker = await loginWithStream(hans);
    expect((await chat.request("PUT", `/blocks/${luke}`, { token: blocker.token })).status).toBe(200);
    await chat.login(luke);
    expect((await blocker.stream.next("presence")).data).toMatchObject({ username: luke, status: "online" });
    await blocker.stream.close();
  });
});

describe("several streams of one session", () => {
  it("all get the same messages, presence and session end", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const first = await streams.opened(luke, () => chat.events(lukeToken));
    const second = await streams.opened(luke, () => chat.events(lukeToken));

    await sendMessage(chat, hansToken, luke, "to both");
    const [onFirst, onSecond] = [await first.next("message"), await second.next("message")];
    expect(onSecond).toEqual(onFirst);
    expect(onFirst.data).toMatchObject({ from: hans, text: "to both" });

    await chat.login(yoda);
    expect((await first.next("presence")).data).toMatchObject({ username: yoda, status: "online" });
    expect((await second.next("presence")).data).toMatchObject({ username: yoda, status: "online" });

    await logout(lukeToken);
    for (const stream of [first, second]) {
      expect(await stream.next("session_ended")).toEqual({ id: undefined, event: "session_ended", data: { reason: "logout" } });
      await stream.closed();
    }
  });
});

describe("logout", () => {
  it("sends session_ended, closes the stream, and the old token opens no new one", async () => {
    const { luke } = await chat.users("luke");
    const { token, stream } = await loginWithStream(luke);
    await logout(token);
    const ended = await stream.next("session_ended");
    expect(ended).toEqual({ id: undefined, event: "session_ended", data: { reason: "logout" } });
    await stream.closed();
    expect(stream.events.at(-1)).toEqual(ended);
    expect(await endReasons(chat, luke)).toEqual(["logout"]);

    const again = await chat.request("GET", "/events", { token });
    expect(again.status).toBe(401);
    expect(((await again.json()) as { code: string }).code).toBe("unauthorized");
  });
});

describe("logout twice at once", () => {
  it("ends the session once: one offline notice, one session_ended", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const { stream: watcher } = await loginWithStream(hans);
    const { token, stream } = await loginWithStream(luke);
    await watcher.next("presence");
    const statuses = await Promise.all([1, 2].map(async () => (await chat.request("POST", "/logout", { token })).status));
    // One ends it; the other either ends nothing (204) or arrives when the session is gone (401).
    expect(statuses).toContain(204);
    for (const status of statuses) expect([204, 401]).toContain(status);
    await stream.closed();
    await watcher.quietFor(300, "presence");
    expect(presenceAbout(watcher, luke).map((event) => (event.data as { status: string }).status)).toEqual(["online", "offline"]);
    expect(stream.events.filter((event) => event.event === "session_ended")).toHaveLength(1);
    await watcher.close();
  });
});

describe("authentication of the stream", () => {
  it("accepts the token as ?access_token=", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const response = await chat.request("GET", `/events?access_token=${encodeURIComponent(lukeToken)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const stream = new EventReader(response);
    await sendMessage(chat, hansToken, luke, "via query token");
    expect((await stream.next("message")).data).toMatchObject({ from: hans, to: luke, text: "via query token" });
    await stream.close();
  });

  it.each([
    ["no token", ""],
    ["a malformed token", "?access_token=not-a-jwt"],
  ])("refuses a stream with %s: 401 problem+json", async (_, query) => {
    const response = await chat.request("GET", `/events${query}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await response.json()).toMatchObject({
      status: 401,
      code: "unauthorized",
      title: expect.any(String),
      detail: expect.any(String),
    });
  });

  it.each(["logout", "timeout"] as const)(
    "tells a stream whose session another instance ended (%s) a moment before it opened why, and closes it",
    async (reason) => {
      const { luke } = await chat.users("luke");
      const token = await chat.login(luke);
      // Ended in the database only, as another instance would: this instance's session cache still
      // trusts the session for a moment, so the stream opens, then finds the session over and ends.
      await chat.db
        .update(sessions)
        .set({ endedAt: sql`now()`, endReason: reason })
        .where(and(eq(sessions.username, luke), isNull(sessions.endedAt)));
      const stream = await chat.events(token);
      await stream.closed();
      expect(stream.events).toEqual([{ id: undefined, event: "session_ended", data: { reason } }]);
    },
  );

  it("refuses a bearer token whose session has ended", async () => {
    const { luke } = await chat.users("luke");
    const token = await chat.login(luke);
    await logout(token);
    const response = await chat.request("GET", `/events?access_token=${encodeURIComponent(token)}`);
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });
});
