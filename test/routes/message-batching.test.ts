import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createObservability } from "../../src/observability/telemetry.js";
import { sample } from "../ops/capture.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { expectProblem, streamTracker } from "../support/http.js";
import type { EventReader, ReceivedEvent } from "../support/sse.js";

type MessageView = { id: number; from: string; to: string; text: string; sentAt: string };
type SentMessage = MessageView & { delivery: "delivered" | "stored" };
type Send = { token: string; from: string; to: string; text: string };

let chat: TestChat;
const streams = streamTracker(() => chat);
const observability = createObservability({ logLevel: "silent", processMetrics: false });
/** The size of every group commit of this test, as the batcher reports it to telemetry. */
let batchSizes: number[] = [];
const reportBatch = observability.telemetry.messageBatchStored;
observability.telemetry.messageBatchStored = (sends) => {
  batchSizes.push(sends);
  reportBatch(sends);
};

beforeAll(async () => {
  chat = await createTestChat({}, { observability });
});
beforeEach(() => {
  batchSizes = [];
});
afterEach(async () => {
  await streams.closeAll();
  await chat.endAllSessions();
});
afterAll(() => chat.close());

/**
 * The sends went in a few batches that each stored several of them, not one batch each: the sizes
 * add up to every send (refused ones included) and the largest batch held more than one message.
 */
function expectGrouped(sends: number, atMostBatches: number) {
  expect(
    batchSizes.reduce((sum, size) => sum + size, 0),
    JSON.stringify(batchSizes),
  ).toBe(sends);
  expect(Math.max(...batchSizes), JSON.stringify(batchSizes)).toBeGreaterThan(1);
  expect(batchSizes.length, JSON.stringify(batchSizes)).toBeLessThanOrEqual(atMostBatches);
}

const post = (send: Send) => chat.request("POST", "/messages", { token: send.token, json: { to: send.to, text: send.text } });

/** Sends and expects a 201 carrying exactly this message. */
async function accepted(send: Send): Promise<SentMessage> {
  const response = await post(send);
  expect(response.status, await response.clone().text()).toBe(201);
  const body = (await response.json()) as SentMessage;
  expect(body).toEqual({
    id: expect.any(Number),
    from: send.from,
    to: send.to,
    text: send.text,
    sentAt: expect.any(String),
    delivery: expect.stringMatching(/^(delivered|stored)$/),
  });
  return body;
}

const viewOf = ({ delivery: _delivery, ...view }: SentMessage): MessageView => view;
const oldestFirst = (messages: MessageView[]) => [...messages].sort((a, b) => a.id - b.id);
const newestFirst = (messages: MessageView[]) => oldestFirst(messages).reverse();

async function history(token: string): Promise<MessageView[]> {
  const response = await chat.request("GET", "/messages?limit=200", { token });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { messages: MessageView[] }).messages;
}

/** Takes `count` message events, then shows that no further message arrives (so none came twice). */
async function messagesOn(stream: EventReader, count: number): Promise<ReceivedEvent[]> {
  const received: ReceivedEvent[] = [];
  for (let index = 0; index < count; index++) received.push(await stream.next("message"));
  expect(await stream.quietFor(300, "message")).toEqual([]);
  return received;
}

function expectIncreasingEventIds(events: ReceivedEvent[]) {
  const ids = events.map((event) => Number(event.id));
  for (const id of ids) expect(Number.isSafeInteger(id) && id > 0, `event id ${id}`).toBe(true);
  for (let index = 1; index < ids.length; index++) expect(ids[index]).toBeGreaterThan(ids[index - 1]!);
}

/** Spreads `invalid` evenly through `valid`, so both land in the same batches. */
function interleave<T>(valid: T[], invalid: T[]): T[] {
  const every = Math.max(1, Math.floor(valid.length / (invalid.length + 1)));
  const mixed = [...valid];
  invalid.forEach((item, index) => mixed.splice((index + 1) * every + index, 0, item));
  return mixed;
}

/** Four logged-in senders and three recipients with open streams; roy has blocked dan. */
async function crowd() {
  const names = await chat.users("ann", "ben", "cat", "dan", "rex", "ray", "roy");
  const token = Object.fromEntries(
    await Promise.all(Object.values<string>(names).map(async (name) => [name, await chat.login(name)] as const)),
  ) as Record<string, string>;
  const block = await chat.request("PUT", `/blocks/${names.dan}`, { token: token[names.roy] });
  expect(block.status).toBe(200);
  const senders = [names.ann, names.ben, names.cat, names.dan];
  const recipients = [names.rex, names.ray, names.roy];
  const stream = Object.fromEntries(
    await Promise.all(recipients.map(async (name) => [name, await streams.open(token[name]!)] as const)),
  ) as Record<string, EventReader>;
  /** A recipient for the sender's n-th message, cycling through all three but never dan -> roy. */
  const recipientFor = (from: string, n: number) => {
    const to = recipients[(n + senders.indexOf(from)) % recipients.length]!;
    return from === names.dan && to === names.roy ? names.rex : to;
  };
  const send = (from: string, to: string, text: string): Send => ({ token: token[from]!, from, to, text });
  return { names, token, senders, recipients, stream, recipientFor, send };
}

describe("POST /messages sent concurrently (group commit)", () => {
  it("answers each of many concurrent sends with its own message, and refuses the bad ones on their own", async () => {
    const { names, token, senders, recipients, stream, recipientFor, send } = await crowd();
    const valid = senders.flatMap((from) =>
      Array.from({ length: 10 }, (_, n) => send(from, recipientFor(from, n), `${from} burst ${n}`)),
    );
    const nobody = `${names.rex}_nobody`;
    const toNobody = senders.map((from) => send(from, nobody, `${from} to nobody`));
    const toBlocker = Array.from({ length: 4 }, (_, n) => send(names.dan, names.roy, `dan to roy ${n}`));
    const all = interleave(valid, [...toNobody, ...toBlocker]);

    const responses = await Promise.all(all.map((each) => (valid.includes(each) ? accepted(each) : post(each))));

    // They shared a few statements rather than one each, and /metrics says so too.
    expectGrouped(all.length, all.length / 4);
    const exposition = await observability.metrics.registry.metrics();
    expect(sample(exposition, "chat_message_batch_size_sum")).toBeGreaterThanOrEqual(all.length);
    expect(sample(exposition, "chat_message_batch_size_count")).toBeLessThanOrEqual(
      sample(exposition, "chat_message_batch_size_sum")! / 4,
    );
    const sent = valid.map((each) => responses[all.indexOf(each)] as SentMessage);
    expect(new Set(sent.map((message) => message.id)).size).toBe(valid.length);
    for (const message of sent) expect(message.delivery).toBe("delivered");
    for (const each of toNobody) {
      await expectProblem(responses[all.indexOf(each)] as Response, 404, "unknown_user", "Error. Invalid user");
    }
    for (const each of toBlocker) {
      await expectProblem(
        responses[all.indexOf(each)] as Response,
        403,
        "blocked",
        "Your message could not be delivered as the recipient has blocked you",
      );
    }

    for (const recipient of recipients) {
      const theirs = sent.filter((message) => message.to === recipient);
      const received = await messagesOn(stream[recipient]!, theirs.length);
      expectIncreasingEventIds(received);
      // Each message is numbered as it is stored, so the stream carries them in message-id order.
      expect(received.map((event) => event.data)).toEqual(oldestFirst(theirs.map(viewOf)));
    }

    for (const name of [...senders, ...recipients]) {
      const mine = sent.filter((message) => message.from === name || message.to === name);
      expect(await history(token[name]!), name).toEqual(newestFirst(mine.map(viewOf)));
    }
  });

  it("keeps each sender's order when the senders send one after another at the same time", async () => {
    const { names, senders, recipients, stream, recipientFor, send } = await crowd();
    const perSender = 8;
    const refusedAlongside = [send(names.dan, names.roy, "dan to roy"), send(names.ann, `${names.ann}_nobody`, "ann to nobody")];

    const [chains, refusals] = await Promise.all([
      Promise.all(
        senders.map(async (from) => {
          const mine: SentMessage[] = [];
          for (let n = 0; n < perSender; n++) mine.push(await accepted(send(from, recipientFor(from, n), `${from} #${n}`)));
          return mine;
        }),
      ),
      Promise.all(refusedAlongside.map(post)),
    ]);

    // Each sender waits for its 201 before the next send, so a batch holds at most one send per sender.
    expectGrouped(senders.length * perSender + refusedAlongside.length, perSender + refusedAlongside.length);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(senders.length + refusedAlongside.length);
    await expectProblem(refusals[0]!, 403, "blocked");
    await expectProblem(refusals[1]!, 404, "unknown_user");
    const sent = chains.flat();
    expect(sent).toHaveLength(senders.length * perSender);
    for (const chain of chains) {
      for (let n = 1; n < chain.length; n++) expect(chain[n]!.id).toBeGreaterThan(chain[n - 1]!.id);
    }

    for (const recipient of recipients) {
      const received = await messagesOn(stream[recipient]!, sent.filter((message) => message.to === recipient).length);
      expectIncreasingEventIds(received);
      for (const from of senders) {
        const inSendingOrder = sent.filter((message) => message.from === from && message.to === recipient).map(viewOf);
        expect(received.map((event) => event.data).filter((data) => (data as MessageView).from === from)).toEqual(inSendingOrder);
      }
    }
  });

  it("stores a message for an offline recipient while the online ones in the same batch are delivered", async () => {
    const { ann, ben, rex, ray, olga } = await chat.users("ann", "ben", "rex", "ray", "olga");
    const annToken = await chat.login(ann);
    const benToken = await chat.login(ben);
    const rexStream = await streams.open(await chat.login(rex));
    const rayStream = await streams.open(await chat.login(ray));
    const sends: Send[] = [];
    for (let n = 0; n < 6; n++) {
      sends.push({ token: annToken, from: ann, to: [rex, olga, ray][n % 3]!, text: `ann ${n}` });
      sends.push({ token: benToken, from: ben, to: [olga, ray, rex][n % 3]!, text: `ben ${n}` });
    }

    const sent = await Promise.all(sends.map(accepted));
    expectGrouped(sends.length, sends.length / 2);

    for (const message of sent) expect(message.delivery, message.text).toBe(message.to === olga ? "stored" : "delivered");
    for (const [recipient, recipientStream] of [
      [rex, rexStream],
      [ray, rayStream],
    ] as const) {
      const theirs = sent.filter((message) => message.to === recipient).map(viewOf);
      const received = await messagesOn(recipientStream, theirs.length);
      expect(received.map((event) => event.data)).toEqual(oldestFirst(theirs));
    }

    const forOlga = sent.filter((message) => message.to === olga).map(viewOf);
    expect(forOlga).toHaveLength(4);
    const olgaStream = await streams.open(await chat.login(olga));
    const stored = await messagesOn(olgaStream, forOlga.length);
    expectIncreasingEventIds(stored);
    expect(stored.map((event) => event.data)).toEqual(oldestFirst(forOlga));
  });
});
