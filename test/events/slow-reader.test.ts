import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { idsOf, nextEvents, sendMessage, textsOf } from "./helpers.js";
import { waitUntil } from "../support/wait.js";

const BUFFER_BYTES = 4096;

let chat: TestChat;
/**
 * For the readers that stop: a stream still catching up from the log when its reader stops (events
 * that arrive while it starts are read from the log too) waits for room, as a replay goes at the
 * reader's pace, and is cut off by the next ping instead: pings every second keep that short.
 */
let pinging: TestChat;
beforeAll(async () => {
  [chat, pinging] = await Promise.all([
    createTestChat({ streamBufferBytes: BUFFER_BYTES }),
    createTestChat({ streamBufferBytes: BUFFER_BYTES, pingIntervalSeconds: 1 }),
  ]);
});
afterAll(() => Promise.all([chat.close(), pinging.close()]));

/** Until the server has dropped every stream of `on` (a cut-off reader sees it only once it reads). */
const untilCutOff = (on: TestChat) => waitUntil(() => on.context.hub.streamCount() === 0, "the stalled stream to be cut off");

/** A raw stream body read only when asked to, so the test controls when the reader falls behind. */
function manualReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const messages: { id: string; text: string }[] = [];
  const decoder = new TextDecoder();
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === "message") messages.push({ id: event.id!, text: (JSON.parse(event.data) as { text: string }).text });
    },
  });
  return {
    messages,
    /** Reads until `count` messages have been parsed. */
    async readMessages(count: number) {
      while (messages.length < count) {
        const { done, value } = await reader.read();
        if (done) throw new Error("stream ended early");
        parser.feed(decoder.decode(value, { stream: true }));
      }
    },
    /** Reads what is left; says whether the stream ended in an error (cut off) rather than a clean close. */
    async readToEnd(): Promise<"closed" | "cut off"> {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return "closed";
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {
        return "cut off";
      }
    },
  };
}

const bigTexts = (count: number, fill: string) => Array.from({ length: count }, (_, index) => `${index}:`.padEnd(1000, fill));

describe("a reader that falls behind", () => {
  it("is cut off when it never reads, and a resume with Last-Event-ID gets every message", async () => {
    const { hans, luke } = await pinging.users("hans", "luke");
    const hansToken = await pinging.login(hans);
    const lukeToken = await pinging.login(luke);
    // luke's last id seen, from an earlier stream that did read.
    const earlier = await pinging.events(lukeToken);
    await sendMessage(pinging, hansToken, luke, "before");
    const before = await earlier.next("message");
    await earlier.close();

    const stalled = await pinging.request("GET", "/events", { token: lukeToken, headers: { "last-event-id": before.id! } });
    expect(stalled.status).toBe(200);
    const texts = bigTexts(12, "x");
    expect(texts.join("").length).toBeGreaterThan(2 * BUFFER_BYTES);
    for (const text of texts) await sendMessage(pinging, hansToken, luke, text);

    await untilCutOff(pinging);
    const late = manualReader(stalled.body!);
    expect(await late.readToEnd()).toBe("cut off");
    expect(late.messages.length).toBeLessThan(texts.length);

    const resumeFrom = late.messages.at(-1)?.id ?? before.id!;
    const resumed = await pinging.events(lukeToken, { "last-event-id": resumeFrom });
    const rest = await nextEvents(resumed, "message", texts.length - late.messages.length);
    expect([...late.messages.map((message) => message.text), ...textsOf(rest)]).toEqual(texts);
    expect(await resumed.quietFor(200, "message")).toEqual([]);
    await resumed.close();
  });

  it("is cut off when it stops reading mid-stream, and resuming from its last id loses nothing", async () => {
    const { hans, luke } = await pinging.users("hans", "luke");
    const hansToken = await pinging.login(hans);
    const lukeToken = await pinging.login(luke);
    const texts = bigTexts(16, "y");

    const response = await pinging.request("GET", "/events", { token: lukeToken });
    const slow = manualReader(response.body!);
    for (const text of texts.slice(0, 2)) await sendMessage(pinging, hansToken, luke, text);
    await slow.readMessages(2);
    // The reader stops here while the rest (far over the bound) is sent.
    for (const text of texts.slice(2)) await sendMessage(pinging, hansToken, luke, text);
    await untilCutOff(pinging);
    expect(await slow.readToEnd()).toBe("cut off");
    expect(slow.messages.length).toBeLessThan(texts.length);

    const resumed = await pinging.events(lukeToken, { "last-event-id": slow.messages.at(-1)!.id });
    const rest = await nextEvents(resumed, "message", texts.length - slow.messages.length);
    expect([...slow.messages.map((message) => message.text), ...textsOf(rest)]).toEqual(texts);
    expect([...slow.messages.map((message) => Number(message.id)), ...idsOf(rest)]).toEqual(texts.map((_, index) => index + 1));
    expect(await resumed.quietFor(200, "message")).toEqual([]);
    await resumed.close();
  });

  it("is not cut off by a replay larger than the buffer when it keeps reading", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const texts = bigTexts(12, "z");
    for (const text of texts) expect((await sendMessage(chat, hansToken, luke, text)).delivery).toBe("stored");

    const stream = await chat.events(await chat.login(luke));
    expect(textsOf(await nextEvents(stream, "message", texts.length))).toEqual(texts);
    await sendMessage(chat, hansToken, luke, "live after the backlog");
    expect(textsOf([await stream.next("message")])).toEqual(["live after the backlog"]);
    expect(stream.ended).toBe(false);
    await stream.close();
  });
});
