import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { storeMessages } from "../../src/chat/messages.js";
import { users } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { idsOf, messagesIn, nextEvents, sendMessage, textsOf, watchAttachments } from "./helpers.js";
import { waitUntil } from "../support/wait.js";

let chat: TestChat;
let streams: ReturnType<typeof watchAttachments>;
beforeAll(async () => {
  chat = await createTestChat({ pingIntervalSeconds: 1 });
  streams = watchAttachments(() => chat.context.hub);
});
afterAll(() => chat.close());

/** hans (logged in) and luke (not yet), fresh for each test. */
async function pair() {
  const { hans, luke } = await chat.users("hans", "luke");
  return { hans, luke, hansToken: await chat.login(hans) };
}

describe("messages stored while offline", () => {
  it("arrive first on the first stream after login, in order, with increasing ids", async () => {
    const { hans, luke, hansToken } = await pair();
    for (const text of ["one", "two", "three"]) {
      expect((await sendMessage(chat, hansToken, luke, text)).delivery).toBe("stored");
    }
    const stream = await chat.events(await chat.login(luke));
    const stored = await nextEvents(stream, "message", 3);
    expect(stream.events.slice(0, 3)).toEqual(stored);
    expect(textsOf(stored)).toEqual(["one", "two", "three"]);
    expect(stored.map((event) => event.data)).toEqual(
      ["one", "two", "three"].map((text) => expect.objectContaining({ from: hans, to: luke, text })),
    );
    const ids = idsOf(stored);
    expect(ids[0]).toBeGreaterThan(0);
    expect(ids[1]).toBeGreaterThan(ids[0]!);
    expect(ids[2]).toBeGreaterThan(ids[1]!);

    await sendMessage(chat, hansToken, luke, "four");
    const live = await stream.next("message");
    expect(textsOf([live])).toEqual(["four"]);
    expect(Number(live.id)).toBeGreaterThan(ids[2]!);
    await stream.close();
  });

  it("arrive whole and in order when they fill more than one page of the log", async () => {
    const { hans, luke } = await pair();
    const sentAt = new Date();
    const texts = Array.from({ length: 1203 }, (_, index) => `backlog ${index}`);
    // One batch stores them all (as the message batcher would), so the test spends no time on HTTP.
    const outcomes = await storeMessages(
      chat.context.hub,
      chat.db,
      texts.map((text) => ({ from: hans, to: luke, text, sentAt })),
    );
    expect(outcomes.every((outcome) => "value" in outcome)).toBe(true);

    const stream = await chat.events(await chat.login(luke));
    const replayed = await nextEvents(stream, "message", texts.length);
    expect(textsOf(replayed)).toEqual(texts);
    const ids = idsOf(replayed);
    expect(ids).toEqual(ids.map((_, index) => ids[0]! + index));
    expect(await stream.quietFor(200, "message")).toEqual([]);
    await stream.close();
  });

  it("are replayed on a second stream opened without Last-Event-ID: written is not proof of read", async () => {
    const { luke, hansToken } = await pair();
    await sendMessage(chat, hansToken, luke, "stored one");
    await sendMessage(chat, hansToken, luke, "stored two");
    const lukeToken = await chat.login(luke);
    const first = await chat.events(lukeToken);
    const onFirst = await nextEvents(first, "message", 2);
    // The client dropped the first stream before reading it, as far as the server can tell.
    await first.close();
    await sleep(1200); // past the cursor's periodic save
    const second = await chat.events(lukeToken);
    expect(idsOf(await nextEvents(second, "message", 2))).toEqual(idsOf(onFirst));
    await second.close();
  });

  it("are not replayed once a reconnect acknowledged them with Last-Event-ID", async () => {
    const { luke, hansToken } = await pair();
    await sendMessage(chat, hansToken, luke, "stored one");
    await sendMessage(chat, hansToken, luke, "stored two");
    const lukeToken = await chat.login(luke);
    const first = await chat.events(lukeToken);
    const delivered = await nextEvents(first, "message", 2);
    const lastDelivered = Number(delivered[1]!.id);
    await first.close();
    const resumed = await chat.events(lukeToken, { "last-event-id": String(lastDelivered) });
    await waitUntil(async () => {
      const [row] = await chat.db.select({ delivered: users.deliveredEventId }).from(users).where(eq(users.username, luke));
      return (row?.delivered ?? 0) >= lastDelivered;
    }, "the acknowledged id to be saved");

    const second = await chat.events(lukeToken);
    expect(await second.quietFor(300, "message")).toEqual([]);
    await sendMessage(chat, hansToken, luke, "live");
    const [onResumed, onSecond] = [await resumed.next("message"), await second.next("message")];
    expect(onSecond).toEqual(onResumed);
    expect(messagesIn(second.events)).toEqual([onResumed]);
    expect(Number(onResumed.id)).toBeGreaterThan(lastDelivered);
    await resumed.close();
    await second.close();
  });

  it("are not replayed at the next login once the session that received them ended", async () => {
    const { luke, hansToken } = await pair();
    await sendMessage(chat, hansToken, luke, "stored one");
    const firstToken = await chat.login(luke);
    const first = await chat.events(firstToken);
    const [delivered] = await nextEvents(first, "message", 1);
    const logout = await chat.request("POST", "/logout", { token: firstToken });
    expect(logout.status).toBe(204);
    await first.next("session_ended");

    const stream = await chat.events(await chat.login(luke));
    expect(await stream.quietFor(300, "message")).toEqual([]);
    await sendMessage(chat, hansToken, luke, "after");
    const live = await stream.next("message");
    expect(Number(live.id)).toBeGreaterThan(Number(delivered!.id));
    await stream.close();
  });
});

describe("resuming a stream", () => {
  /** luke's first stream sees messages 1-3 and closes; 4 and 5 are sent while he has no stream. */
  async function seenThreeMissedTwo() {
    const { luke, hansToken } = await pair();
    const token = await chat.login(luke);
    const first = await chat.events(token);
    for (const text of ["m1", "m2", "m3"]) await sendMessage(chat, hansToken, luke, text);
    const seen = await nextEvents(first, "message", 3);
    await first.close();
    for (const text of ["m4", "m5"]) expect((await sendMessage(chat, hansToken, luke, text)).delivery).toBe("delivered");
    return { luke, hansToken, token, seen };
  }

  /** The resumed stream gets m3, m4, m5 and then only what is sent afterwards. */
  async function expectResumedAfterSecond(
    stream: Awaited<ReturnType<TestChat["events"]>>,
    context: Awaited<ReturnType<typeof seenThreeMissedTwo>>,
  ) {
    const replayed = await nextEvents(stream, "message", 3);
    expect(textsOf(replayed)).toEqual(["m3", "m4", "m5"]);
    expect(replayed[0]).toEqual(context.seen[2]);
    const ids = idsOf(replayed);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(3);
    expect(await stream.quietFor(300, "message")).toEqual([]);
    await sendMessage(chat, context.hansToken, context.luke, "m6");
    const live = await stream.next("message");
    expect(textsOf([live])).toEqual(["m6"]);
    expect(Number(live.id)).toBeGreaterThan(ids[2]!);
    expect(textsOf(messagesIn(stream.events))).toEqual(["m3", "m4", "m5", "m6"]);
    await stream.close();
  }

  it("replays exactly the events after the Last-Event-ID header, then goes live", async () => {
    const context = await seenThreeMissedTwo();
    const stream = await chat.events(context.token, { "last-event-id": context.seen[1]!.id! });
    await expectResumedAfterSecond(stream, context);
  });

  it("replays exactly the events after ?lastEventId=, then goes live", async () => {
    const context = await seenThreeMissedTwo();
    const stream = await chat.events(context.token, {}, `?lastEventId=${context.seen[1]!.id}`);
    await expectResumedAfterSecond(stream, context);
  });

  it("prefers the Last-Event-ID header over ?lastEventId=", async () => {
    const context = await seenThreeMissedTwo();
    const stream = await chat.events(
      context.token,
      { "last-event-id": context.seen[1]!.id! },
      `?lastEventId=${context.seen[0]!.id}`,
    );
    await expectResumedAfterSecond(stream, context);
  });

  it.each([
    ["larger than any id the user has", "999999"],
    ["not a number", "abc"],
    ["of digits followed by other characters", "1x"],
    ["of other characters followed by digits", "x1"],
    ["of more digits than any id has", "1234567890123456"],
  ])("answers a resume id %s with resync, then replays as if none was given", async (_, unknownId) => {
    const { luke, hansToken } = await pair();
    await sendMessage(chat, hansToken, luke, "waiting one");
    await sendMessage(chat, hansToken, luke, "waiting two");
    const stream = await chat.events(await chat.login(luke), { "last-event-id": unknownId });
    const resync = await stream.next();
    expect(resync).toEqual({ id: undefined, event: "resync", data: { reason: "unknown_event_id", lastEventId: unknownId } });
    const replayed = await nextEvents(stream, "message", 2);
    expect(textsOf(replayed)).toEqual(["waiting one", "waiting two"]);
    expect(stream.events).toEqual([resync, ...replayed]);
    await stream.close();
  });
});

describe("stream framing", () => {
  it("answers HEAD with the stream's head at once, and opens no stream", async () => {
    const { luke } = await pair();
    const token = await chat.login(luke);
    const before = chat.context.hub.streamCount();
    const response = await chat.request("HEAD", "/events", { token });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(await response.text()).toBe("");
    expect(chat.context.hub.streamCount()).toBe(before);
    expect((await chat.request("HEAD", "/events")).status).toBe(401);
  });

  it("sends retry: before anything else", async () => {
    const { luke } = await pair();
    const response = await chat.request("GET", "/events", { token: await chat.login(luke) });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    // No cache or proxy may hold the stream back or rewrite it.
    expect(response.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toMatch(/^retry: \d+\n\n/);
    await reader.cancel();
  });

  it("sends a : ping comment every ping interval", async () => {
    const { luke } = await pair();
    const stream = await chat.events(await chat.login(luke));
    expect(await stream.comment("ping", 5000)).toBe("ping");
    expect(stream.retry).toBeGreaterThan(0);
    await stream.close();
  });

  it("sends presence, resync and session_ended without an id", async () => {
    const { hans, luke, hansToken } = await pair();
    const token = await chat.login(luke);
    const stream = await streams.opened(luke, () => chat.events(token, { "last-event-id": "not-an-id" }));
    await chat.request("POST", "/logout", { token: hansToken });
    await chat.login(hans);
    await chat.request("POST", "/logout", { token });
    await stream.closed();
    expect(stream.events.map(({ event, id }) => ({ event, id }))).toEqual([
      { event: "resync", id: undefined },
      { event: "presence", id: undefined },
      { event: "presence", id: undefined },
      { event: "session_ended", id: undefined },
    ]);
  });

  it("keeps durable ids moving past live-only events", async () => {
    const { hans, luke, hansToken } = await pair();
    const token = await chat.login(luke);
    const stream = await streams.opened(luke, () => chat.events(token));
    await sendMessage(chat, hansToken, luke, "before presence");
    const before = await stream.next("message");
    await chat.request("POST", "/logout", { token: hansToken });
    await stream.next("presence");
    const hansAgain = await chat.login(hans);
    await stream.next("presence");
    await sendMessage(chat, hansAgain, luke, "after presence");
    const after = await stream.next("message");
    expect(Number(after.id)).toBe(Number(before.id) + 1);
    await stream.close();
  });
});
