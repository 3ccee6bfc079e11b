import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendBroadcast } from "../../src/chat/broadcasts.js";
import { messageBatchQuery, storeMessages } from "../../src/chat/messages.js";
import { queryRows } from "../../src/db/client.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { waitUntil } from "../support/wait.js";

const onPostgres = Boolean(process.env.DATABASE_URL);

/** The rows a plan's scans of `relation` read: those they answered and those their filters threw away, over all loops. */
type PlanNode = {
  "Node Type": string;
  "Relation Name"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
};

function rowsRead(node: PlanNode, relation: string): number {
  const own =
    node["Relation Name"] === relation && node["Node Type"].endsWith("Scan")
      ? (node["Actual Rows"] + (node["Rows Removed by Filter"] ?? 0)) * node["Actual Loops"]
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, relation), 0);
}

const literal = (value: unknown) => `'${String(value).replace(/'/g, "''")}'`;

/**
 * The message batch statement is prepared once per connection and PostgreSQL keeps one plan for
 * it, made without the batch's values. With a few thousand users that plan once read the whole
 * users table to find a batch's recipients and again to bump their counters, for every batch.
 */
describe("the message batch statement's kept plan, with 3,000 users online", () => {
  let chat: TestChat;
  beforeAll(async () => {
    chat = await createTestChat();
    await chat.db.execute(
      sql`insert into users (username, password_hash) select 'plan_user_' || n, md5(n::text) from generate_series(1, 3000) n`,
    );
    await chat.db.execute(sql`insert into sessions (username) select username from users where username like 'plan_user_%'`);
    await chat.db.execute(sql`analyze users`);
    await chat.db.execute(sql`analyze sessions`);
  });
  afterAll(() => chat.close());

  it("reads only the rows of the batch's users, in users and sessions", async () => {
    const sends = [{ from: "plan_user_1", to: "plan_user_2", text: "one message", sentAt: new Date() }];
    const { sql: text, params } = messageBatchQuery(chat.context.hub, sends);
    const plan = await chat.db.transaction(async (tx) => {
      // The plan kept for a prepared statement: one made for any values (PostgreSQL's generic plan).
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      await tx.execute(sql.raw(`prepare message_batch as ${text}`));
      const [row] = await queryRows<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        tx,
        sql.raw(`explain (analyze, format json) execute message_batch(${params.map(literal).join(", ")})`),
      );
      await tx.execute(sql`deallocate message_batch`);
      return row!["QUERY PLAN"][0].Plan;
    });
    // The recipient's row and live session (the counter's row is found by the upsert's key check).
    expect(rowsRead(plan, "users")).toBe(1);
    expect(rowsRead(plan, "sessions")).toBe(1);
  });
});

/**
 * The event log finds each recipient's row again, to bump its counter, by the row id its lock
 * answered. A row another transaction updated while the statement waited for the lock is a new
 * row version with an id of its own: the lock must answer that one, or the events go unnumbered.
 */
describe.skipIf(!onPostgres)("a recipient's row updated while a statement waits to lock it", () => {
  let chat: TestChat;
  beforeAll(async () => {
    chat = await createTestChat();
  });
  afterAll(() => chat.close());

  /** Runs `statement` while another transaction holds `username`'s row, updated, and commits that transaction once it waits. */
  async function behindAnUpdate<Result>(username: string, statement: () => Promise<Result>): Promise<Result> {
    let running: Promise<Result> | undefined;
    await chat.db.transaction(async (tx) => {
      await tx.execute(sql`update users set failed_attempts = failed_attempts where username = ${username}`);
      running = statement();
      running.catch(() => {});
      await waitUntil(async () => {
        const [waiting] = await queryRows<{ n: number }>(
          chat.db,
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        return waiting!.n > 0;
      }, "the statement to wait for the row lock");
    });
    return running!;
  }

  const counterAndEvents = async (username: string) => {
    const [row] = await queryRows<{ counter: number; events: number }>(
      chat.db,
      sql`select last_event_id::int as counter, (select count(*)::int from events e where e.username = u.username) as events
          from users u where username = ${username}`,
    );
    return row;
  };

  it("numbers and stores a message batch's event", async () => {
    const { ann, rex } = await chat.users("ann", "rex");
    const outcomes = await behindAnUpdate(rex, () =>
      storeMessages(chat.context.hub, chat.db, [{ from: ann, to: rex, text: "waited for the lock", sentAt: new Date() }]),
    );
    expect(outcomes.map((outcome) => ("value" in outcome ? outcome.value.event.id : outcome.error))).toEqual([1]);
    expect(await counterAndEvents(rex)).toEqual({ counter: 1, events: 1 });
  });

  it("numbers and stores a broadcast's event", async () => {
    const { ann, rex } = await chat.users("ann", "rex");
    await chat.login(rex);
    const sent = await behindAnUpdate(rex, () => sendBroadcast(chat.context, ann, "waited for the lock"));
    expect(sent.recipients).toBe(1);
    expect(await counterAndEvents(rex)).toEqual({ counter: 1, events: 1 });
  });
});
