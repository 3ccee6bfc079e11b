import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { storeMessages } from "../../src/chat/messages.js";
import type { DurableEvent } from "../../src/chat/events.js";
import type { LocalHub } from "../../src/chat/hub.js";
import { createObservability } from "../../src/observability/telemetry.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { streamTracker } from "../support/http.js";
import { idsOf, nextEvents, sendMessage, textsOf } from "./helpers.js";

/**
 * An open stream writes a live event as it comes only when it follows the last id it wrote;
 * anything else (a repeat, an event after a gap) makes it read the log, the source of truth.
 * The log reads are counted from telemetry (chat_event_log_reads_total).
 */
let chat: TestChat;
const streams = streamTracker(() => chat);
const observability = createObservability({ logLevel: "silent", processMetrics: false });
let logReads = 0;
const countRead = observability.telemetry.eventLogRead;
observability.telemetry.eventLogRead = () => {
  logReads += 1;
  countRead();
};

beforeAll(async () => {
  chat = await createTestChat({}, { observability });
});
beforeEach(() => {
  logReads = 0;
});
afterEach(async () => {
  await streams.closeAll();
  await chat.endAllSessions();
});
afterAll(() => chat.close());

/** Two messages from hans to luke stored and numbered, and not published: the hub has heard of neither. */
async function storedUnannounced(hans: string, luke: string): Promise<DurableEvent[]> {
  const sentAt = new Date();
  const outcomes = await storeMessages(chat.context.hub, chat.db, [
    { from: hans, to: luke, text: "first, never announced", sentAt },
    { from: hans, to: luke, text: "second", sentAt },
  ]);
  return outcomes.map((outcome) => {
    if (!("value" in outcome)) throw new Error(`refused: ${String(outcome.error)}`);
    return outcome.value.event;
  });
}

describe("a live event on an open stream", () => {
  it("that follows the last id written goes out as it is, without reading the log", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const stream = await streams.open(await chat.login(luke));
    const texts = ["one", "two", "three", "four", "five"];
    for (const text of texts) {
      await sendMessage(chat, hansToken, luke, text);
      await stream.next("message");
    }
    expect(textsOf(stream.events)).toEqual(texts);
    // None, but for a message that may land while the stream's start is still settling.
    expect(logReads).toBeLessThanOrEqual(1);
  });

  it("after a gap makes the stream read the log: the event it never heard of comes first", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const stream = await streams.open(await chat.login(luke));
    const [first, second] = await storedUnannounced(hans, luke);

    chat.context.hub.publish(luke, second!);

    const delivered = await nextEvents(stream, "message", 2);
    expect(idsOf(delivered)).toEqual([first!.id, second!.id]);
    expect(textsOf(delivered)).toEqual(["first, never announced", "second"]);
    expect(logReads).toBeGreaterThanOrEqual(1);
  });

  it("already written is not written again, and costs no read of the log", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const stream = await streams.open(await chat.login(luke));
    await sendMessage(chat, hansToken, luke, "once");
    const [written] = await nextEvents(stream, "message", 1);
    const readsBefore = logReads;

    chat.context.hub.publish(luke, { id: Number(written!.id), type: "message", data: written!.data } as DurableEvent);
    await sendMessage(chat, hansToken, luke, "twice?");
    await stream.next("message");

    expect(textsOf(stream.events)).toEqual(["once", "twice?"]);
    expect(logReads).toBe(readsBefore);
  });
});

/** The hub of this process as the other instances' notices reach it (PGlite has no other instance). */
const localHub = () => chat.context.hub as LocalHub;

describe("a notice of new events without the events themselves (another instance's commit)", () => {
  it("makes the stream read the log and write what it finds, in order", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const stream = await streams.open(await chat.login(luke));
    const [first, second] = await storedUnannounced(hans, luke);

    localHub().notify(luke, second!.id);

    expect(idsOf(await nextEvents(stream, "message", 2))).toEqual([first!.id, second!.id]);
    expect(logReads).toBeGreaterThanOrEqual(1);
    // A notice of what was already written costs no read.
    const readsBefore = logReads;
    localHub().notify(luke, second!.id);
    await sendMessage(chat, await chat.login(hans), luke, "after");
    await stream.next("message");
    expect(logReads).toBe(readsBefore);
  });

  it("when notices may have been missed, makes every stream read the log", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const stream = await streams.open(await chat.login(luke));
    const [first, second] = await storedUnannounced(hans, luke);

    localHub().catchUpAll();

    expect(idsOf(await nextEvents(stream, "message", 2))).toEqual([first!.id, second!.id]);
  });
});
