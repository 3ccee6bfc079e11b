import { setTimeout as sleep } from "node:timers/promises";
import { eq } from "drizzle-orm";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createDeliveredCursor, pruneEvents, readEventsAfter } from "../../src/chat/event-log.js";
import { openEventStream, type SinkEvents, type StreamSink } from "../../src/chat/event-stream.js";
import { createLocalHub, type LocalHub } from "../../src/chat/hub.js";
import { storeMessages } from "../../src/chat/messages.js";
import type { ChatTelemetry } from "../../src/chat/telemetry.js";
import { users } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { waitUntil } from "../support/wait.js";

/**
 * One event stream driven in-process, through the module's own API: a real local hub and the
 * test database, a sink that records what reaches the connection, and telemetry that records
 * every report. What a client sees over HTTP is tested elsewhere; this pins down what the stream
 * reports and leaves behind as it opens and closes.
 */
let chat: TestChat;
let hub: LocalHub;
beforeAll(async () => {
  chat = await createTestChat();
});
afterEach(() => hub?.stop());
afterAll(() => chat.close());

const decoder = new TextDecoder();

/** Every call the stream makes to its telemetry, as [method, ...arguments]. */
function recordingTelemetry() {
  const calls: unknown[][] = [];
  const telemetry = new Proxy({} as ChatTelemetry, {
    get:
      (_, method) =>
      (...args: unknown[]) =>
        calls.push([method, ...args]),
  });
  const named = (method: keyof ChatTelemetry) => calls.filter(([name]) => name === method).map((call) => call.slice(1));
  return { telemetry, calls, named };
}

/** A connection that keeps what is written, how it ended, and lets the test set the bytes not yet taken. */
function recordingSink() {
  const sink = {
    text: "",
    queued: 0,
    ended: 0,
    aborted: [] as string[],
    events: undefined as SinkEvents | undefined,
    /** The `event:` lines written so far, in order. */
    types: () => [...sink.text.matchAll(/^event: (\w+)$/gm)].map((match) => match[1]),
    /** The `id:` lines written so far, as numbers. */
    ids: () => [...sink.text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1])),
  };
  const connect = (events: SinkEvents): StreamSink => {
    sink.events = events;
    return {
      write: (bytes) => void (sink.text += decoder.decode(bytes)),
      queuedBytes: () => sink.queued,
      end: () => void sink.ended++,
      abort: (error) => void sink.aborted.push(error.message),
    };
  };
  return { sink, connect };
}

/** A user with a live session and `count` messages waiting (event ids 1..count). */
async function userWithMessages(count: number) {
  const { hans, luke } = await chat.users("hans", "luke");
  // The token names its session (as test/routes/login.test.ts reads it).
  const sessionId = decodeJwt(await chat.login(luke)).sid as string;
  const sentAt = new Date();
  const sends = Array.from({ length: count }, (_, index) => ({ from: hans, to: luke, text: `m${index + 1}`, sentAt }));
  if (count > 0) await storeMessages(hub, chat.db, sends);
  return { luke, sessionId };
}

/** Opens a stream of `luke` on a fresh hub, with its own cursor and recorded telemetry. */
function open(luke: string, sessionId: string, options: { lastEventId?: string; bufferBytes?: number } = {}) {
  const { sink, connect } = recordingSink();
  const recorded = recordingTelemetry();
  const cursor = createDeliveredCursor(chat.db);
  let onClose = 0;
  openEventStream(
    {
      db: chat.db,
      hub,
      cursor,
      username: luke,
      sessionId,
      lastEventId: options.lastEventId,
      bufferBytes: options.bufferBytes ?? 1 << 20,
      maxStreamsPerSession: 5,
      retryMs: 1000,
      telemetry: recorded.telemetry,
      onClose: () => onClose++,
    },
    connect,
  );
  return { sink, cursor, ...recorded, closes: () => onClose };
}

const newHub = () => (hub = createLocalHub({ pingIntervalMs: 60_000 }));

async function deliveredEventId(username: string) {
  const [row] = await chat.db.select({ id: users.deliveredEventId }).from(users).where(eq(users.username, username));
  return row!.id;
}

describe("an event stream's close", () => {
  it("by its client is reported once, detaches it from the hub, and ends nothing more", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const stream = open(luke, sessionId);
    await waitUntil(() => stream.sink.ids().length === 2, "the two waiting messages");

    stream.sink.events!.gone();
    stream.sink.events!.gone();
    hub.endSession(luke, sessionId, "logout");
    hub.closeAll();

    expect(stream.named("streamClosed")).toEqual([[expect.objectContaining({ username: luke, sessionId }), "client_closed"]]);
    expect(stream.closes()).toBe(1);
    expect(hub.streamCount()).toBe(0);
    expect(stream.sink.types()).toEqual(["message", "message"]);
    expect(stream.sink.ended).toBe(0);
    expect(stream.sink.aborted).toEqual([]);
  });

  it("at its session's end says why, counts the farewell, ends the connection once and marks what it wrote as delivered", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(3);
    const stream = open(luke, sessionId);
    await waitUntil(() => stream.sink.ids().length === 3, "the three waiting messages");

    hub.endSession(luke, sessionId, "logout");
    hub.endSession(luke, sessionId, "timeout");
    stream.sink.events!.gone();

    expect(stream.sink.types()).toEqual(["message", "message", "message", "session_ended"]);
    expect(stream.sink.text).toContain('data: {"reason":"logout"}');
    expect(stream.named("eventsDelivered")).toEqual([
      ["message", 1],
      ["message", 1],
      ["message", 1],
      ["session_ended", 1],
    ]);
    expect(stream.named("streamClosed").map(([, reason]) => reason)).toEqual(["session_ended"]);
    expect(stream.sink.ended).toBe(1);
    expect(stream.closes()).toBe(1);
    await stream.cursor.flush();
    expect(await deliveredEventId(luke)).toBe(3);
  });

  it("by the server (shutdown) writes no farewell and marks nothing as delivered", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const stream = open(luke, sessionId);
    await waitUntil(() => stream.sink.ids().length === 2, "the two waiting messages");

    hub.closeAll();

    expect(stream.sink.types()).toEqual(["message", "message"]);
    expect(stream.named("streamClosed").map(([, reason]) => reason)).toEqual(["server_closed"]);
    expect(stream.sink.ended).toBe(1);
    await stream.cursor.flush();
    expect(await deliveredEventId(luke)).toBe(0);
  });

  it("for a reader that leaves its bytes untaken cuts it off once, reported as slow_reader", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(0);
    const stream = open(luke, sessionId, { bufferBytes: 64 });
    await waitUntil(() => stream.sink.text.startsWith("retry: 1000\n\n"), "the stream's first bytes");
    stream.sink.queued = 65;

    hub.endSession(luke, sessionId, "logout");
    stream.sink.events!.gone();

    expect(stream.sink.types()).toEqual(["session_ended"]);
    expect(stream.named("streamClosed").map(([, reason]) => reason)).toEqual(["slow_reader"]);
    expect(stream.sink.aborted).toEqual(["event stream reader too slow"]);
    expect(stream.sink.ended).toBe(0);
    expect(stream.named("eventsDelivered")).toEqual([]);
    await stream.cursor.flush();
    expect(await deliveredEventId(luke)).toBe(0);
  });

  it("replaying, waits while its connection holds a whole buffer, and goes on when told there is room", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const stream = open(luke, sessionId, { bufferBytes: 1000 });
    stream.sink.queued = 1000;
    await waitUntil(() => stream.named("eventLogRead").length === 1, "the replay's read of the log");
    await sleep(20);
    expect(stream.sink.ids()).toEqual([]);

    stream.sink.queued = 999;
    stream.sink.events!.room();
    await waitUntil(() => stream.sink.ids().length === 2, "the replay to go on");
    expect(stream.sink.ids()).toEqual([1, 2]);
    expect(stream.named("streamClosed")).toEqual([]);
  });

  it("for a reader that leaves exactly a buffer's worth untaken is not cut off; one byte more is", async () => {
    const { luke, sessionId } = await userWithMessages(0);
    for (const [untaken, reason] of [
      [64, "server_closed"],
      [65, "slow_reader"],
    ] as const) {
      newHub();
      const stream = open(luke, sessionId, { bufferBytes: 64 });
      await waitUntil(() => stream.sink.text.startsWith("retry: 1000\n\n"), "the stream's first bytes");
      stream.sink.queued = untaken;
      const at = new Date().toISOString();
      hub.announce({ type: "presence", data: { username: "hans", status: "online", at } }, "hans", new Set());
      hub.closeAll();
      hub.stop();
      expect(stream.named("streamClosed").map(([, closed]) => closed)).toEqual([reason]);
    }
  });

  it("by its client before its start is read goes no further: no log read, nothing written", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const stream = open(luke, sessionId);
    stream.sink.events!.gone();
    await sleep(50);
    expect(stream.named("eventLogRead")).toEqual([]);
    expect(stream.sink.text).toBe("retry: 1000\n\n");
  });
});

describe("an event stream's resume point", () => {
  it("with nothing stored past it, and nothing arriving, is not followed by a read of the log", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const caughtUp = open(luke, sessionId, { lastEventId: "2" });
    const behind = open(luke, sessionId, { lastEventId: "1" });
    await waitUntil(() => behind.sink.ids().length === 1, "the message after the first");
    await sleep(20);
    expect([caughtUp.named("eventLogRead").length, behind.named("eventLogRead").length]).toEqual([0, 1]);
    expect(caughtUp.sink.ids()).toEqual([]);
  });

  it("may carry white space around its digits", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(3);
    const stream = open(luke, sessionId, { lastEventId: " 1 " });
    await waitUntil(() => stream.sink.ids().length === 2, "the two messages after the first");
    expect(stream.sink.types()).toEqual(["message", "message"]);
    expect(stream.sink.ids()).toEqual([2, 3]);
    // The client had everything up to its resume point.
    await stream.cursor.flush();
    expect(await deliveredEventId(luke)).toBe(1);
  });

  it("unknown is answered with one resync, counted as delivered, then what was never delivered", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(2);
    const stream = open(luke, sessionId, { lastEventId: "7" });
    await waitUntil(() => stream.sink.ids().length === 2, "the two waiting messages");
    expect(stream.sink.types()).toEqual(["resync", "message", "message"]);
    expect(stream.named("eventsDelivered")[0]).toEqual(["resync", 1]);
  });

  it("before pruned events is answered with one resync, counted as delivered, then every event still kept", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(3);
    const cursor = createDeliveredCursor(chat.db);
    cursor.advance(luke, 2);
    cursor.advance(luke, 1);
    await cursor.flush();
    expect(await deliveredEventId(luke)).toBe(2);
    await waitUntil(async () => {
      await pruneEvents(chat.db, 0);
      return (await readEventsAfter(chat.db, luke, 0, 10)).map((event) => event.id).join() === "3";
    }, "events 1 and 2 to be pruned");

    const stream = open(luke, sessionId, { lastEventId: "0" });
    await waitUntil(() => stream.sink.ids().length === 1, "the one event still kept");
    expect(stream.sink.types()).toEqual(["resync", "message"]);
    expect(stream.sink.text).toContain('"reason":"events_pruned"');
    expect(stream.sink.ids()).toEqual([3]);
    expect(stream.named("eventsDelivered")).toEqual([
      ["resync", 1],
      ["message", 1],
    ]);
  });
});

describe("an event stream's delivery lag", () => {
  afterEach(() => vi.useRealTimers());

  it("is reported for what was sent from the millisecond the stream opened on, not for what was sent before", async () => {
    newHub();
    const { luke, sessionId } = await userWithMessages(1);
    // Only Date is frozen (timers and the database run as usual): the stream opens at a known millisecond.
    const opened = Date.now() + 5;
    vi.useFakeTimers({ toFake: ["Date"], now: opened });
    const stream = open(luke, sessionId);
    await waitUntil(() => stream.sink.ids().length === 1, "the message that waited");

    vi.setSystemTime(opened + 250);
    const { hans } = await chat.users("hans");
    const send = (text: string, sentAt: number) => ({ from: hans, to: luke, text, sentAt: new Date(sentAt) });
    const outcomes = await storeMessages(hub, chat.db, [send("as it opened", opened), send("just before", opened - 1)]);
    for (const outcome of outcomes) if ("value" in outcome) hub.publish(luke, outcome.value.event);
    expect(stream.sink.ids()).toEqual([1, 2, 3]);
    expect(stream.named("deliveryLag")).toEqual([["message", 0.25]]);
  });
});
