import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import type { ReceivedEvent } from "../support/sse.js";
import { idsOf, messagesIn, textsOf } from "./helpers.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

const MESSAGES = 200;
const IN_FLIGHT_PER_SENDER = 4;

describe("resuming while messages keep arriving", () => {
  it("delivers every message exactly once across streams reopened with the last id seen", { timeout: 120_000 }, async () => {
    const { luke, hans, yoda, leia } = await chat.users("luke", "hans", "yoda", "leia");
    const lukeToken = await chat.login(luke);
    const senders = await Promise.all([hans, yoda, leia].map(async (name) => ({ name, token: await chat.login(name) })));

    // The first stream is open before anything is sent, so it starts at the beginning of luke's log.
    let stream = await chat.events(lukeToken);
    const seen: ReceivedEvent[] = [];
    let lastId: string | undefined;
    let sending = true;

    const texts = Array.from(
      { length: MESSAGES },
      (_, index) => `message ${index} from ${senders[index % senders.length]!.name}`,
    );
    // Half the messages wait for three reopens, so reopening while sending happens however fast sends are.
    let reopenedWhileSending = 0;
    let reopenedThrice!: () => void;
    const thriceReopened = new Promise<void>((resolve) => (reopenedThrice = resolve));
    let started = 0;
    const queues = senders.map((sender, senderIndex) => ({
      sender,
      texts: texts.filter((_, index) => index % senders.length === senderIndex),
    }));
    // Every sender keeps a few POSTs in flight at once: concurrent, yet the embedded database's
    // single connection is not so swamped that a reconnect waits for all of them.
    const sent = Promise.all(
      queues.flatMap(({ sender, texts: own }) =>
        Array.from({ length: IN_FLIGHT_PER_SENDER }, async () => {
          const results: { text: string; status: number }[] = [];
          for (let text = own.shift(); text !== undefined; text = own.shift()) {
            if (++started > MESSAGES / 2) await thriceReopened;
            const response = await chat.request("POST", "/messages", { token: sender.token, json: { to: luke, text } });
            results.push({ text, status: response.status });
          }
          return results;
        }),
      ),
    )
      .then((perWorker) => perWorker.flat())
      .finally(() => (sending = false));

    while (sending) {
      await sleep(50 + Math.random() * 150);
      await stream.close();
      seen.push(...messagesIn(stream.events));
      lastId = seen.at(-1)?.id ?? lastId;
      stream = await chat.events(lukeToken, lastId === undefined ? {} : { "last-event-id": lastId });
      if (sending && ++reopenedWhileSending === 3) reopenedThrice();
    }
    const results = await sent;
    const accepted = results.filter((result) => result.status === 201).map((result) => result.text);
    expect(accepted).toHaveLength(MESSAGES);

    // The last stream catches up with whatever is left.
    while (seen.length + messagesIn(stream.events).length < accepted.length) await stream.next("message", 20_000);
    expect(await stream.quietFor(300, "message")).toEqual([]);
    await stream.close();
    seen.push(...messagesIn(stream.events));

    expect(reopenedWhileSending).toBeGreaterThanOrEqual(3);
    expect(idsOf(seen)).toEqual(Array.from({ length: MESSAGES }, (_, index) => index + 1));
    expect(textsOf(seen).sort()).toEqual([...accepted].sort());
  });
});
