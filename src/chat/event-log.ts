import { and, asc, eq, gt, sql, type SQL } from "drizzle-orm";
import { bareColumn as bare, queryRows, textArray, type Database, type Transaction } from "../db/client.js";
import { broadcasts, events, messages, sessions, users } from "../db/schema.js";
import { runPeriodically } from "../lib/periodic.js";
import type { DurableEvent, DurableEventContent, DurableEventType } from "./events.js";
import { DISABLED_HASH } from "./passwords.js";

type Message = typeof messages.$inferSelect;
type Broadcast = typeof broadcasts.$inferSelect;

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

/**
 * A SELECT of the users' rows matching `where` (columns: username, then `columns`), locked in name
 * order, so two transactions over overlapping users cannot deadlock; "no key update" does not
 * conflict with the key-share locks foreign keys take. A statement appending events for more than
 * one user locks them with this or lockedUsersByName first (see appendEventSteps). This one is for
 * a `where` that may match much of the table, as a broadcast's online users do.
 */
export function lockedUsersQuery(where: SQL, columns?: SQL): SQL {
  return sql`select ${users.username} as username${columns ? sql`, ${columns}` : sql``}
             from ${users} where ${where}
             order by ${users.username}
             for no key update of ${users}`;
}

/**
 * lockedUsersQuery for the users named by `names` (a query answering a text column `name`; repeats
 * are fine), each looked up alone through the primary key, in name order; `where` may refuse some.
 * The subqueries fence the planner in: with `username = any(names)` the plan PostgreSQL keeps for
 * the statement read every row of a table of 1,000 users, comparing each with every name, and
 * hashed every live session, for every batch of messages (BENCHMARKS.md, "The message
 * statement's plan").
 */
export function lockedUsersByName(names: SQL, where?: SQL, columns?: SQL): SQL {
  return sql`select locked.* from (select distinct name from (${names}) as named order by name) as wanted
             cross join lateral (
               select ${users.username} as username${columns ? sql`, ${columns}` : sql``}
               from ${users} where ${users.username} = wanted.name${where ? sql` and ${where}` : sql``}
               for no key update of ${users}
               limit 1
             ) as locked`;
}

/**
 * The common table expressions that number and store events, for a statement that defines
 * `pending` (a relation with columns username, ord, type, message_id, broadcast_id, data: one row
 * per event, each row carrying exactly one of message_id, broadcast_id, data) and has already
 * locked the rows of pending's users (lockedUsersQuery or lockedUsersByName). They bump each
 * user's counter by their count, number each user's events in `ord` order after their previous
 * highest id, store them, and send the commit notice. Ids come from the counter bumped under the
 * user's row lock, so a user's events commit in id order: a reader that has seen id n never later
 * finds an id below n appear. Defines event_counts, event_counters, stored_events and
 * `numbered_events` (pending's columns plus event_id), which the statement may read.
 *
 * The counters are bumped by an upsert, whose conflict check finds each row through the primary
 * key. An UPDATE joined to event_counts is planned as a join, and the plan PostgreSQL keeps read
 * the whole users table for it until there were somewhere between 5,000 and 10,000 users. The
 * rows exist and are locked, so nothing is inserted; were one missing, it would come in as a
 * disabled account.
 */
export function appendEventSteps(notices: CommitNotices | undefined, pending: SQL): SQL {
  // Joining the one-row notice query into numbered_events runs it with the statement: pg_notify sends at commit.
  const notice = notices ? sql`cross join (${commitNoticeQuery(notices, sql`event_counters`)}) as notices` : sql``;
  return sql`event_counts as materialized (select username, count(*) as n from ${pending} group by username),
        event_counters as (
          insert into ${users} (${bare(users.username)}, ${bare(users.passwordHash)}, ${bare(users.lastEventId)})
          select username, ${DISABLED_HASH}, n from event_counts
          on conflict (${bare(users.username)}) do update set ${bare(users.lastEventId)} = ${users.lastEventId} + excluded.${bare(users.lastEventId)}
          returning ${users.username} as username, ${users.lastEventId} as id
        ),
        numbered_events as materialized (
          select p.*, b.id - c.n + row_number() over (partition by p.username order by p.ord) as event_id
          from ${pending} p join event_counters b on b.username = p.username join event_counts c on c.username = p.username
          ${notice}
        ),
        stored_events as (
          insert into ${events} (${bare(events.username)}, ${bare(events.id)}, ${bare(events.type)},
                                 ${bare(events.messageId)}, ${bare(events.broadcastId)}, ${bare(events.data)})
          select username, event_id, type, message_id::bigint, broadcast_id::bigint, data::jsonb from numbered_events
        )`;
}

/**
 * Stores the same event (its payload in `data`) for each of `recipients`, a fan-out, in one
 * statement; returns each recipient's event. A name not in users gets none.
 */
export async function appendEvents(
  notices: CommitNotices | undefined,
  tx: Transaction,
  recipients: readonly string[],
  content: DurableEventContent,
): Promise<Map<string, DurableEvent>> {
  if (recipients.length === 0) return new Map();
  const rows = await queryRows<{ username: string; event_id: number | string }>(
    tx,
    sql`with recipient as materialized (${lockedUsersByName(sql`select unnest(${textArray(recipients)}) as name`)}),
        pending as (
          select username, 0 as ord, ${content.type}::text as type, null::bigint as message_id, null::bigint as broadcast_id,
                 ${JSON.stringify(content.data)}::jsonb as data
          from recipient
        ),
        ${appendEventSteps(notices, sql`pending`)}
        select username, event_id from numbered_events`,
  );
  return new Map(rows.map((row) => [row.username, { ...content, id: Number(row.event_id) }]));
}

/** A message as events and history show it: the payload of its `message` event, live or replayed. */
export function messageView(message: Pick<Message, "id" | "sender" | "recipient" | "text" | "sentAt">) {
  return {
    id: message.id,
    from: message.sender,
    to: message.recipient,
    text: message.text,
    sentAt: message.sentAt.toISOString(),
  };
}

/** The payload of a `broadcast` event, live or replayed. */
export function broadcastView(broadcast: Pick<Broadcast, "id" | "sender" | "text" | "sentAt">) {
  return { id: broadcast.id, from: broadcast.sender, text: broadcast.text, sentAt: broadcast.sentAt.toISOString() };
}

/** Durable events of one user after `afterId`, oldest first, message and broadcast payloads built from their rows. */
export async function readEventsAfter(db: Database, username: string, afterId: number, limit: number): Promise<DurableEvent[]> {
  const rows = await db
    .select({ id: events.id, type: events.type, data: events.data, message: messages, broadcast: broadcasts })
    .from(events)
    .leftJoin(messages, eq(messages.id, events.messageId))
    .leftJoin(broadcasts, eq(broadcasts.id, events.broadcastId))
    .where(and(eq(events.username, username), gt(events.id, afterId)))
    .orderBy(asc(events.id))
    .limit(limit);
  return rows.map(
    ({ id, type, data, message, broadcast }) =>
      ({
        id,
        type: type as DurableEventType,
        // Rows stored before events referred to their message carry the payload themselves.
        data: message ? messageView(message) : broadcast ? broadcastView(broadcast) : data,
      }) as DurableEvent,
  );
}

/**
 * What a stream needs to start, in one query: whether its session is still live (and if not, why
 * it ended), where a stream opened without Last-Event-ID starts, the highest id the user has at
 * all, and the lowest still kept (null when none is): ids are dense per user, so a resume point
 * below it lost pruned events.
 */
export async function readStreamStart(
  db: Database,
  username: string,
  sessionId: string,
): Promise<
  | { live: boolean; endReason: string | null; deliveredEventId: number; lastEventId: number; oldestEventId: number | null }
  | undefined
> {
  const [row] = await db
    .select({
      live: sql<boolean>`${sessions.id} is not null and ${sessions.endedAt} is null`,
      endReason: sessions.endReason,
      deliveredEventId: users.deliveredEventId,
      lastEventId: users.lastEventId,
      // By name, not by the outer row: were this select ever one table again, drizzle would write
      // users.username inside sql`` unqualified, reading as events.username (every user's oldest).
      oldestEventId: sql<
        number | string | null
      >`(select min(${events.id}) from ${events} where ${events.username} = ${username})`,
    })
    .from(users)
    .leftJoin(sessions, eq(sessions.id, sessionId))
    .where(eq(users.username, username));
  return row && { ...row, oldestEventId: row.oldestEventId === null ? null : Number(row.oldestEventId) };
}

/** Rows one pruning transaction deletes at most: short transactions, short locks. */
const PRUNE_CHUNK = 5000;
/** The advisory lock (any fixed bigint) an instance holds while it prunes, so instances sharing a database take turns. */
export const PRUNE_LOCK = 7_267_916_381;

/**
 * Deletes delivered events older than `retentionSeconds`, at most `chunk` per transaction, until
 * none is left. An event is delivered when its id is at most the user's delivered_event_id (see
 * createDeliveredCursor): the others are kept whatever their age, for the user's next stream.
 * Messages and broadcasts themselves are history and stay. Each transaction first takes
 * pg_try_advisory_xact_lock; while another instance holds it, this one stops until its next turn.
 * Returns how many events were deleted.
 */
export async function pruneEvents(db: Database, retentionSeconds: number, chunk = PRUNE_CHUNK): Promise<number> {
  let deleted = 0;
  for (;;) {
    const count = await db.transaction(async (tx) => {
      const [lock] = await queryRows<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${PRUNE_LOCK}) as locked`);
      if (!lock?.locked) return undefined;
      const [row] = await queryRows<{ deleted: number | string }>(
        tx,
        sql`with doomed as (
              select ${events.username} as username, ${events.id} as id
              from ${events} join ${users} on ${users.username} = ${events.username}
              where ${events.createdAt} < now() - make_interval(secs => ${retentionSeconds}::double precision)
                and ${events.id} <= ${users.deliveredEventId}
              limit ${chunk}
            ),
            gone as (
              delete from ${events} using doomed
              where ${events.username} = doomed.username and ${events.id} = doomed.id
              returning 1
            )
            select count(*) as deleted from gone`,
      );
      return Number(row?.deleted ?? 0);
    });
    if (count === undefined) return deleted;
    deleted += count;
    if (count < chunk) return deleted;
  }
}

/** How often the event log is pruned: every tenth of the retention window, at most every second, at least every ten minutes. */
export const pruneIntervalMs = (retentionSeconds: number) => Math.max(1000, Math.min(600_000, (retentionSeconds * 1000) / 10));

/** Prunes the event log every pruneIntervalMs. Returns the function that stops it. */
export function startEventPruner(db: Database, retentionSeconds: number, onError: (error: unknown) => void): () => void {
  return runPeriodically(pruneIntervalMs(retentionSeconds), () => pruneEvents(db, retentionSeconds), onError);
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
