import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { PRUNE_LOCK, pruneEvents } from "../../src/chat/event-log.js";
import { events } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { idsOf, nextEvents, sendMessage, textsOf } from "./helpers.js";

const DAY = 24 * 3600;

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

const keptIds = async (username: string) =>
  (await chat.db.select({ id: events.id }).from(events).where(eq(events.username, username)).orderBy(asc(events.id))).map(
    (row) => row.id,
  );

/** Moves events back in time, as if stored `days` ago. */
const age = (username: string, ids: number[], days: number) =>
  chat.db
    .update(events)
    .set({ createdAt: sql`now() - make_interval(days => ${days})` })
    .where(and(eq(events.username, username), inArray(events.id, ids)));

/**
 * luke gets four messages while offline; he certainly received the first three (his delivered
 * cursor), the fourth not yet; the first two and the fourth are two days old.
 */
async function lukeWithOldEvents() {
  const { hans, luke } = await chat.users("hans", "luke");
  const hansToken = await chat.login(hans);
  for (const text of ["old one", "old two", "recent", "old unread"]) await sendMessage(chat, hansToken, luke, text);
  const [first, second, third, fourth] = await keptIds(luke);
  chat.context.cursor.advance(luke, third!);
  await chat.context.cursor.flush();
  await age(luke, [first!, second!, fourth!], 2);
  return { luke, ids: [first!, second!, third!, fourth!] };
}

describe("pruning the event log", () => {
  it("deletes delivered events older than the window, keeps newer ones and undelivered ones", async () => {
    const { luke, ids } = await lukeWithOldEvents();
    expect(await pruneEvents(chat.db, DAY)).toBe(2);
    expect(await keptIds(luke)).toEqual([ids[2], ids[3]]);
    expect(await pruneEvents(chat.db, DAY)).toBe(0);
  });

  it("keeps the messages themselves: GET /messages still lists them", async () => {
    const { luke } = await lukeWithOldEvents();
    await pruneEvents(chat.db, DAY);
    const response = await chat.request("GET", "/messages", { token: await chat.login(luke) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { messages: { text: string }[] };
    expect(body.messages.map((message) => message.text)).toEqual(["old unread", "recent", "old two", "old one"]);
  });

  it("deletes in bounded chunks until none is left", async () => {
    const { luke, ids } = await lukeWithOldEvents();
    await age(luke, ids, 3);
    chat.context.cursor.advance(luke, ids[3]!);
    await chat.context.cursor.flush();
    expect(await pruneEvents(chat.db, DAY, 1)).toBe(4);
    expect(await keptIds(luke)).toEqual([]);
  });

  it("answers a resume from before the oldest kept event with resync, then replays what is kept", async () => {
    const { luke } = await lukeWithOldEvents();
    // Another user's first event, never delivered, is kept: luke's own oldest is what counts.
    const { yoda } = await chat.users("yoda");
    const lukeToken = await chat.login(luke);
    await sendMessage(chat, lukeToken, yoda, "kept for yoda");
    await pruneEvents(chat.db, DAY);
    const stream = await chat.events(lukeToken, { "last-event-id": "0" });
    const resync = await stream.next();
    expect(resync).toEqual({ id: undefined, event: "resync", data: { reason: "events_pruned", lastEventId: "0" } });
    const replayed = await nextEvents(stream, "message", 2);
    expect(textsOf(replayed)).toEqual(["recent", "old unread"]);
    expect(stream.events).toEqual([resync, ...replayed]);
    await stream.close();
  });

  it("resumes without resync from just before the oldest kept event", async () => {
    const { luke, ids } = await lukeWithOldEvents();
    await pruneEvents(chat.db, DAY);
    const stream = await chat.events(await chat.login(luke), { "last-event-id": String(ids[1]) });
    const replayed = await nextEvents(stream, "message", 2);
    expect(idsOf(replayed)).toEqual([ids[2], ids[3]]);
    expect(stream.events).toEqual(replayed);
    await stream.close();
  });

  // PGlite is one connection: a transaction holding the lock would block the pruner's own.
  it.skipIf(!process.env.DATABASE_URL)("prunes nothing while another instance holds the pruning lock", async () => {
    const { luke, ids } = await lukeWithOldEvents();
    await chat.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${PRUNE_LOCK})`);
      expect(await pruneEvents(chat.db, DAY)).toBe(0);
    });
    expect(await keptIds(luke)).toEqual(ids);
  });
});
