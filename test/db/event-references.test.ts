import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendBroadcast } from "../../src/chat/broadcasts.js";
import { appendEvents, readEventsAfter } from "../../src/chat/event-log.js";
import { storeMessages } from "../../src/chat/messages.js";
import { queryRows } from "../../src/db/client.js";
import { createTestChat, type TestChat } from "../support/chat.js";

/**
 * The events table has no foreign keys (drizzle/0005): the statement that stores an event also
 * writes the rows the event refers to. These tests hold that statement to what the keys checked.
 */
describe("events refer to rows that exist", () => {
  let chat: TestChat;
  beforeAll(async () => {
    chat = await createTestChat();
  });
  afterAll(() => chat.close());

  /** Events whose user, message or broadcast is missing, or whose message went to someone else. */
  const danglingEvents = () =>
    queryRows<{ username: string; id: number }>(
      chat.db,
      sql`select e.username, e.id from events e
          where not exists (select 1 from users u where u.username = e.username)
             or (e.message_id is not null
                 and not exists (select 1 from messages m where m.id = e.message_id and m.recipient = e.username))
             or (e.broadcast_id is not null and not exists (select 1 from broadcasts b where b.id = e.broadcast_id))`,
    );

  it("after messages to online and offline users, a refused one, a broadcast and a stored notice", async () => {
    const { ann, bob, cat, dan } = await chat.users("ann", "bob", "cat", "dan");
    await chat.login(bob);
    await chat.login(cat);
    const sentAt = new Date();
    const outcomes = await storeMessages(chat.context.hub, chat.db, [
      { from: ann, to: bob, text: "to bob, online", sentAt },
      { from: ann, to: dan, text: "to dan, offline", sentAt },
      { from: ann, to: "nobody_at_all", text: "to no one", sentAt },
      { from: cat, to: bob, text: "cat to bob", sentAt },
    ]);
    expect(outcomes.map((outcome) => "value" in outcome)).toEqual([true, true, false, true]);
    const broadcast = await sendBroadcast(chat.context, ann, "to everyone online");
    expect(broadcast.recipients).toBe(2);
    await chat.db.transaction((tx) =>
      appendEvents(chat.context.hub.commitNotices, tx, [dan, "nobody_at_all"], {
        type: "private_stopped",
        data: { from: ann, reason: "stopped" },
      }),
    );

    expect(await danglingEvents()).toEqual([]);
    // No event for a name that is not a user, and each event's payload is the row it refers to.
    const [unknown] = await queryRows<{ n: number }>(
      chat.db,
      sql`select count(*)::int as n from events where username = 'nobody_at_all'`,
    );
    expect(unknown!.n).toBe(0);
    const bobs = await readEventsAfter(chat.db, bob, 0, 10);
    expect(bobs.map((event) => [event.type, "text" in event.data ? event.data.text : undefined])).toEqual([
      ["message", "to bob, online"],
      ["message", "cat to bob"],
      ["broadcast", "to everyone online"],
    ]);
    const dans = await readEventsAfter(chat.db, dan, 0, 10);
    expect(dans.map((event) => event.type)).toEqual(["message", "private_stopped"]);
  });

  it("without foreign keys to re-check each event row", async () => {
    const keys = await queryRows<{ conname: string }>(
      chat.db,
      sql`select conname from pg_constraint where conrelid = 'events'::regclass and contype = 'f'`,
    );
    expect(keys).toEqual([]);
  });
});
