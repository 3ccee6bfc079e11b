import { and, asc, eq, gt, sql, type SQL } from "drizzle-orm";
import { jsonRows, queryRows, textArray, type Database, type Transaction } from "../db/client.js";
import { events, sessions, users } from "../db/schema.js";
import type { DurableEvent, DurableEventContent } from "./events.js";

/**
 * How committed events are announced to other instances: the statement that stores events also
 * runs pg_notify(channel, EventNotice), so the notice goes out exactly when they commit. Absent
 * when no other instance listens.
 */
export type CommitNotices = { channel: string; instance: string };

/** The payload of a commit notice: each user's highest new event id. */
export type EventNotice = { instance: string; kind: "events"; events: [username: string, id: number][] };

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; this leaves room for the envelope. */
const NOTICE_BYTES = 7000;

/**
 * A SELECT sending the commit notices for `appended`, a relation of the same statement with columns
 * (username, id). One notice per chunk of (username, id) pairs: chunks end before NOTICE_BYTES of
 * entries (a name's JSON plus at most 24 bytes of id and punctuation), so each payload stays under
 * PostgreSQL's limit. pg_notify sends at commit.
 */
export function commitNoticeQuery(notices: CommitNotices, appended: SQL): SQL {
  return sql`select count(pg_notify(${notices.channel}, json_build_object('instance', ${notices.instance}::text, 'kind', 'events', 'events', chunk)::text)) as notices
             from (select json_agg(json_build_array(username, id)) as chunk
                   from (select username, id,
                                floor(sum(octet_length(to_json(username)::text) + 24) over (order by username) / ${NOTICE_BYTES}) as part
                         from ${appended} as entries) parted
                   group by part) chunks`;
}

/** One durable event to store for one user. */
type NewEvent = { username: string; content: DurableEventContent };

/** The same event for each of `recipients` (a fan-out); see appendEventRows. */
export async function appendEvents(
  notices: CommitNotices | undefined,
  tx: Transaction,
  recipients: readonly string[],
  content: DurableEventContent,
): Promise<Map<string, DurableEvent>> {
  const appended = await appendEventRows(
    notices,
    tx,
    recipients.map((username) => ({ username, content })),
  );
  return new Map(appended.map((event, index) => [recipients[index] as string, event]));
}

/**
 * Numbers and stores durable events (a batch of direct messages does the same inside its one
 * statement, see storeMessages). Ids come from a per-user counter bumped under the user's row
 * lock, so a user's events commit in id order: a reader that has seen id n never later finds an
 * id below n appear. A user may appear several times; their events are numbered in the order
 * given. Returns the events in that order. The commit notice goes out with the commit.
 */
async function appendEventRows(
  notices: CommitNotices | undefined,
  tx: Transaction,
  entries: readonly NewEvent[],
): Promise<DurableEvent[]> {
  if (entries.length === 0) return [];
  const names = [...new Set(entries.map((entry) => entry.username))];
  if (names.length > 1) await lockUsers(tx, names);
  const ids = await numberEvents(
    tx,
    entries.map((entry) => entry.username),
  );
  const appended = entries.map(({ content }, index): DurableEvent => ({ ...content, id: ids[index] as number }));
  await storeEvents(notices, tx, entries, appended);
  return appended;
}

/**
 * Locks the users' rows in name order, so two transactions over overlapping users cannot
 * deadlock; "no key update" does not conflict with the key-share locks foreign keys take.
 * Needed before numberEvents touches more than one user.
 */
async function lockUsers(tx: Transaction, names: readonly string[]): Promise<void> {
  await tx
    .select({ username: users.username })
    .from(users)
    .where(sql`${users.username} = any(${textArray(names)})`)
    .orderBy(asc(users.username))
    .for("no key update");
}

/**
 * The next event id of each user in `usernames`, in order (a name listed twice gets two ids): one
 * UPDATE bumps every user's counter by their count. With more than one user the rows must
 * already be locked in name order (lockUsers).
 */
async function numberEvents(tx: Transaction, usernames: readonly string[]): Promise<number[]> {
  const counts = new Map<string, number>();
  for (const username of usernames) counts.set(username, (counts.get(username) ?? 0) + 1);
  const bumps = [...counts].map(([username, count]) => ({ username, count }));
  const rows = await queryRows<{ username: string; id: number | string }>(
    tx,
    sql`update ${users} set last_event_id = ${users}.last_event_id + c.count
        from jsonb_to_recordset(${jsonRows(bumps)}) as c(username text, count bigint)
        where ${users}.username = c.username
        returning ${users}.username, ${users}.last_event_id as id`,
  );
  const nextId = new Map<string, number>();
  for (const { username, id } of rows) nextId.set(username, Number(id) - (counts.get(username) as number) + 1);
  return usernames.map((username) => {
    const id = nextId.get(username);
    if (id === undefined) throw new Error(`no event counter for ${username}`);
    nextId.set(username, id + 1);
    return id;
  });
}

/** Stores numbered events (entries[i] numbered as appended[i]) and, in the same statement, the hub's commit notice. */
async function storeEvents(
  notices: CommitNotices | undefined,
  tx: Transaction,
  entries: readonly NewEvent[],
  appended: readonly DurableEvent[],
): Promise<void> {
  const rows = appended.map((event, index) => ({ ...event, username: (entries[index] as NewEvent).username }));
  const insert = sql`insert into ${events} (username, id, type, data)
                     select username, id, type, data from jsonb_to_recordset(${jsonRows(rows)}) as t(username text, id bigint, type text, data jsonb)`;
  await tx.execute(
    notices
      ? sql`with stored as (${insert} returning username, id),
                 appended as (select username, max(id) as id from stored group by username)
            ${commitNoticeQuery(notices, sql.raw("appended"))}`
      : insert,
  );
}

/** Durable events of one user after `afterId`, oldest first. */
export async function readEventsAfter(db: Database, username: string, afterId: number, limit: number): Promise<DurableEvent[]> {
  const rows = await db
    .select({ id: events.id, type: events.type, data: events.data })
    .from(events)
    .where(and(eq(events.username, username), gt(events.id, afterId)))
    .orderBy(asc(events.id))
    .limit(limit);
  return rows as DurableEvent[];
}

/**
 * What a stream needs to start, in one query: whether its session is still live, where a stream
 * opened without Last-Event-ID starts, and the highest id the user has at all.
 */
export async function readStreamStart(
  db: Database,
  username: string,
  sessionId: string,
): Promise<{ live: boolean; deliveredEventId: number; lastEventId: number } | undefined> {
  const [row] = await db
    .select({
      live: sql<boolean>`exists (select 1 from ${sessions} where ${sessions.id} = ${sessionId} and ${sessions.endedAt} is null)`,
      deliveredEventId: users.deliveredEventId,
      lastEventId: users.lastEventId,
    })
    .from(users)
    .where(eq(users.username, username));
  return row;
}

/**
 * How far each user has certainly received their events, where a stream opened without
 * Last-Event-ID starts: moved by a reconnect's Last-Event-ID (the client has everything up to it)
 * and by a stream that lasted to the end of its session. Not by writing: bytes written to a
 * connection that then drops may never have been read, and the client (an EventSource that got no
 * id) would reconnect without one. Saved in batches.
 */
export function createDeliveredCursor(db: Database) {
  const pending = new Map<string, number>();
  const advance = (username: string, id: number) => {
    if ((pending.get(username) ?? 0) < id) pending.set(username, id);
  };
  return {
    advance,
    async flush() {
      const batch = [...pending];
      pending.clear();
      for (const [index, [username, id]] of batch.entries()) {
        try {
          await db
            .update(users)
            .set({ deliveredEventId: sql`greatest(${users.deliveredEventId}, ${id})` })
            .where(eq(users.username, username));
        } catch (error) {
          // Kept for the next flush rather than lost.
          for (const [unsaved, unsavedId] of batch.slice(index)) advance(unsaved, unsavedId);
          throw error;
        }
      }
    },
  };
}

export type DeliveredCursor = ReturnType<typeof createDeliveredCursor>;
