import { and, desc, eq, getTableName, lt, or, sql, type Query } from "drizzle-orm";
import {
  bareColumn as bare,
  isDatabaseUnavailable,
  queryRows,
  statementOnce,
  type Database,
  type Transaction,
} from "../db/client.js";
import { blocks, messages, sessions, users } from "../db/schema.js";
import { createBatcher, nextEventLoopTurn, type BatchOutcome } from "../lib/batcher.js";
import { AppError } from "./errors.js";
import type { ChatContext } from "./context.js";
import { appendEventSteps, lockedUsersByName, messageView, type CommitNotices } from "./event-log.js";
import type { DurableEvent } from "./events.js";
import type { Hub } from "./hub.js";
import { findReplay, keyedRequest, sendOnce } from "./idempotency.js";
import { DISABLED_HASH } from "./passwords.js";
import { INVALID_USER, refuseSelf, requireUser } from "./users.js";

export type SentMessage = ReturnType<typeof messageView> & { delivery: "delivered" | "stored" };

/** One message on its way in: who to whom, what, and when it was accepted. */
export type MessageSend = { from: string; to: string; text: string; sentAt: Date };
type StoredMessage = { response: SentMessage; event: DurableEvent };

/**
 * message: stores the message and the recipient's numbered event in one transaction, then hands
 * the event to the hub. Offline recipients get it from the log at their next stream. Sends without
 * an idempotency key are group-committed (see createMessageBatcher); a retry under the same key
 * answers the first response and sends nothing.
 */
export async function sendMessage(context: ChatContext, from: string, to: string, text: string, idempotencyKey?: string) {
  const { db, hub } = context;
  const keyed = keyedRequest(from, idempotencyKey, "POST /messages", { to, text }, context.settings.idempotencyKeyTtlSeconds);
  const replay = await findReplay<SentMessage>(db, keyed);
  if (replay) return replay;
  refuseSelf(from, to, "Error. Cannot message self");
  const send: MessageSend = { from, to, text, sentAt: new Date() };
  if (!keyed) return context.batches.sendMessage(send);
  const sent = await sendOnce(db, keyed, async (tx) => {
    const [outcome] = await storeMessages(hub, tx, [send]);
    if (!outcome) throw new Error("no outcome for the message");
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  });
  if (sent.replayed) return sent.response;
  publishMessages(context, [sent]);
  return sent.response;
}

/**
 * Group commit for sends: the messages that arrive while one transaction commits go together in
 * the next, with multi-row statements, so the database sees a few statements per batch instead of
 * several round trips per message. Each 201 still waits for its own message's commit. A batch
 * first lets one event-loop turn pass, so the sends whose requests were read meanwhile join it: on
 * PGlite the statement runs without yielding, and without that turn every batch held one message.
 */
export function createMessageBatcher(context: Pick<ChatContext, "db" | "hub" | "telemetry">) {
  return createBatcher<MessageSend, SentMessage>(
    async (sends) => {
      // One statement, so its own transaction: nothing to begin or commit in round trips of their own.
      const outcomes = await storeMessages(context.hub, context.db, sends);
      context.telemetry?.messageBatchStored(sends.length);
      const stored = outcomes.flatMap((outcome) => ("value" in outcome ? [outcome.value] : []));
      publishMessages(context, stored);
      return outcomes.map((outcome) => ("value" in outcome ? { value: outcome.value.response } : outcome));
    },
    { maxBatch: 256, maxConcurrent: 2, gather: nextEventLoopTurn, retryAlone: (error) => !isDatabaseUnavailable(error) },
  );
}

function publishMessages(context: Pick<ChatContext, "hub" | "telemetry">, stored: readonly StoredMessage[]) {
  for (const { response, event } of stored) {
    context.hub.publish(response.to, event);
    context.telemetry?.messageAccepted();
  }
}

/** Each hub's batch statement, carrying its commit notices (there is one hub per app; tests build many). */
const messageBatchStatements = new WeakMap<Hub, ReturnType<typeof buildMessageBatchStatement>>();

function messageBatchStatement(hub: Hub) {
  let statement = messageBatchStatements.get(hub);
  if (!statement) messageBatchStatements.set(hub, (statement = buildMessageBatchStatement(hub.commitNotices)));
  return statement;
}

/**
 * The message batch as one statement, its text built once (see statementOnce); `input` is the
 * sends as a jsonb array.
 * - recipient: every recipient known and enabled, whether online; their rows locked in name
 *   order, as numbering their events needs, each found through the primary key.
 * - accepted: the sends stored, each with its message id, taken in send order; pending: their
 *   events, numbered and stored by the event log's steps in send order per recipient.
 */
function buildMessageBatchStatement(notices: CommitNotices | undefined) {
  return statementOnce(
    ["input"],
    (slots) => sql`with input as materialized (
          select * from jsonb_to_recordset(${slots.input}::jsonb) as t(ord int, sender text, recipient text, text text, sent_at text)
        ),
        recipient as materialized (${lockedUsersByName(
          sql`select recipient as name from input`,
          sql`${users.passwordHash} <> ${DISABLED_HASH}`,
          sql`exists (select 1 from ${sessions} where ${sessions.username} = ${users.username} and ${sessions.endedAt} is null) as online`,
        )}),
        verdict as materialized (
          select i.*, r.username is not null as known, coalesce(r.online, false) as online,
                 exists (select 1 from ${blocks} where ${blocks.blocker} = i.recipient and ${blocks.blocked} = i.sender) as blocked
          from input i left join recipient r on r.username = i.recipient
        ),
        accepted as materialized (
          select v.*, nextval(pg_get_serial_sequence(${getTableName(messages)}, ${messages.id.name})) as message_id
          from (select * from verdict where known and not blocked order by ord) v
        ),
        stored_messages as (
          insert into ${messages} (${bare(messages.id)}, ${bare(messages.sender)}, ${bare(messages.recipient)}, ${bare(messages.text)}, ${bare(messages.sentAt)})
          select message_id, sender, recipient, text, sent_at::timestamptz from accepted
        ),
        pending as (
          select recipient as username, ord, 'message' as type, message_id, null::bigint as broadcast_id, null::jsonb as data
          from accepted
        ),
        ${appendEventSteps(notices, sql`pending`)}
        select v.ord, v.known, v.blocked, v.online, n.message_id, n.event_id
        from verdict v left join numbered_events n on n.ord = v.ord
        order by v.ord`,
  );
}

/** The statement storeMessages runs for `sends`. */
export function messageBatchQuery(hub: Hub, sends: readonly MessageSend[]): Query {
  const input = sends.map(({ from, to, text, sentAt }, ord) => ({
    ord,
    sender: from,
    recipient: to,
    text,
    sent_at: sentAt.toISOString(),
  }));
  return messageBatchStatement(hub)({ input: JSON.stringify(input) });
}

/**
 * Checks and stores messages in one statement (its own transaction when `db` is not one): a
 * message to an unknown user or a blocker gets its own error, the others are stored with their
 * recipient's numbered event and the hub's notice. One round trip for the whole batch.
 */
export async function storeMessages(
  hub: Hub,
  db: Database | Transaction,
  sends: readonly MessageSend[],
): Promise<BatchOutcome<StoredMessage>[]> {
  const rows = await queryRows<{
    ord: number;
    known: boolean;
    blocked: boolean;
    online: boolean;
    message_id: number | string | null;
    event_id: number | string | null;
  }>(db, messageBatchQuery(hub, sends));
  if (rows.length !== sends.length) throw new Error(`message batch answered ${rows.length} rows for ${sends.length} sends`);
  return rows.map((row, index): BatchOutcome<StoredMessage> => {
    const { from, to, text, sentAt } = sends[index] as MessageSend;
    if (!row.known) return { error: new AppError("unknown_user", INVALID_USER) };
    if (row.blocked)
      return { error: new AppError("blocked", "Your message could not be delivered as the recipient has blocked you") };
    if (row.message_id === null || row.event_id === null) throw new Error("message batch left an accepted send unnumbered");
    const view = messageView({ id: Number(row.message_id), sender: from, recipient: to, text, sentAt });
    const event: DurableEvent = { id: Number(row.event_id), type: "message", data: view };
    return { value: { response: { ...view, delivery: row.online ? "delivered" : "stored" }, event } };
  });
}

/** History: my messages (with one user, or all), newest first, paged by id. */
export async function listMessages(db: Database, caller: string, options: { with?: string; before?: number; limit: number }) {
  if (options.with !== undefined) await requireUser(db, options.with);
  const mine = or(eq(messages.sender, caller), eq(messages.recipient, caller));
  const other = options.with;
  const conversation =
    other === undefined
      ? mine
      : or(
          and(eq(messages.sender, caller), eq(messages.recipient, other)),
          and(eq(messages.sender, other), eq(messages.recipient, caller)),
        );
  const rows = await db
    .select()
    .from(messages)
    .where(and(conversation, options.before === undefined ? undefined : lt(messages.id, options.before)))
    .orderBy(desc(messages.id))
    .limit(options.limit);
  const page = rows.map(messageView);
  const last = page.at(-1);
  return { messages: page, nextBefore: page.length === options.limit && last ? last.id : null };
}
