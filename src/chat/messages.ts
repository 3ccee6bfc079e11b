import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { isDatabaseUnavailable, jsonRows, queryRows, textArray, type Database, type Transaction } from "../db/client.js";
import { blocks, messages, sessions, users } from "../db/schema.js";
import { createBatcher, type BatchOutcome } from "../lib/batcher.js";
import { AppError } from "../lib/problem.js";
import type { ChatContext } from "./context.js";
import { numberEvents, storeEvents, type NewEvent } from "./event-log.js";
import type { DurableEvent } from "./events.js";
import type { Hub } from "./hub.js";
import { findReplay, keyedRequest, sendOnce } from "./idempotency.js";
import { DISABLED_HASH } from "./passwords.js";
import { INVALID_USER, refuseSelf, requireUser } from "./users.js";

export type MessageView = { id: number; from: string; to: string; text: string; sentAt: string };
export type SentMessage = MessageView & { delivery: "delivered" | "stored" };

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
  const keyed = keyedRequest(from, idempotencyKey, "POST /messages", { to, text });
  const replay = await findReplay<SentMessage>(db, keyed);
  if (replay) return replay;
  refuseSelf(from, to, "Error. Cannot message self");
  const send: MessageSend = { from, to, text, sentAt: new Date() };
  if (!keyed) return context.batches.sendMessage(send);
  const sent = await sendOnce(db, keyed, async (tx) => {
    const [outcome] = await storeMessages(hub, tx, [send]);
    if (!outcome || "error" in outcome) throw outcome?.error ?? new Error("no outcome for the message");
    return outcome.value;
  });
  if (sent.replayed) return sent.response;
  publishMessages(context, [sent]);
  return sent.response;
}

/**
 * Group commit for sends: the messages that arrive while one transaction commits go together in
 * the next, with multi-row statements, so the database sees a few statements per batch instead of
 * several round trips per message. Each 201 still waits for its own message's commit.
 */
export function createMessageBatcher(context: Pick<ChatContext, "db" | "hub" | "telemetry">) {
  return createBatcher<MessageSend, SentMessage>(
    async (sends) => {
      const outcomes = await context.db.transaction((tx) => storeMessages(context.hub, tx, sends));
      const stored = outcomes.flatMap((outcome) => ("value" in outcome ? [outcome.value] : []));
      publishMessages(context, stored);
      return outcomes.map((outcome) => ("value" in outcome ? { value: outcome.value.response } : outcome));
    },
    { maxBatch: 256, maxConcurrent: 2, retryAlone: (error) => !isDatabaseUnavailable(error) },
  );
}

function publishMessages(context: Pick<ChatContext, "hub" | "telemetry">, stored: readonly StoredMessage[]) {
  for (const { response, event } of stored) {
    context.hub.publish(response.to, event);
    context.telemetry?.messageAccepted();
  }
}

/** Checks and stores messages in `tx`; a message to an unknown user or a blocker gets its own error. */
async function storeMessages(hub: Hub, tx: Transaction, sends: readonly MessageSend[]): Promise<BatchOutcome<StoredMessage>[]> {
  const recipients = [...new Set(sends.map((send) => send.to))];
  const senders = [...new Set(sends.map((send) => send.from))];
  // One statement checks every recipient (known and enabled, online, which of these senders it
  // blocked) and locks their rows in name order, as numberEvents needs (see lockUsers).
  const checked = await queryRows<{ username: string; online: boolean; blocked: string[] }>(
    tx,
    sql`select u.username,
          exists (select 1 from ${sessions} s where s.username = u.username and s.ended_at is null) as online,
          array(select b.blocked from ${blocks} b where b.blocker = u.username and b.blocked = any(${textArray(senders)})) as blocked
        from ${users} u
        where u.username = any(${textArray(recipients)}) and u.password_hash <> ${DISABLED_HASH}
        order by u.username
        for no key update of u`,
  );
  const known = new Map(checked.map((row) => [row.username, row]));
  const refusals = sends.map((send) =>
    !known.has(send.to)
      ? new AppError("unknown_user", INVALID_USER)
      : known.get(send.to)?.blocked.includes(send.from)
        ? new AppError("blocked", "Your message could not be delivered as the recipient has blocked you")
        : undefined,
  );
  const accepted = sends.filter((_, index) => !refusals[index]);
  const stored: StoredMessage[] = [];
  if (accepted.length > 0) {
    // jsonb_to_recordset yields the rows in order and RETURNING follows it: ids match sends.
    const rows = accepted.map(({ from, to, text, sentAt }) => ({ sender: from, recipient: to, text, sent_at: sentAt }));
    // Independent, so sent together (postgres.js pipelines them on the transaction's connection).
    const [ids, eventIds] = await Promise.all([
      queryRows<{ id: number | string }>(
        tx,
        sql`insert into ${messages} (sender, recipient, text, sent_at)
            select sender, recipient, text, sent_at
            from jsonb_to_recordset(${jsonRows(rows)}) as t(sender text, recipient text, text text, sent_at timestamptz)
            returning id`,
      ),
      numberEvents(
        tx,
        accepted.map((send) => send.to),
      ),
    ]);
    const entries = accepted.map(({ from, to, text, sentAt }, index): NewEvent => {
      const id = ids[index]?.id;
      if (id === undefined) throw new Error("message insert returned too few rows");
      return { username: to, type: "message", data: { id: Number(id), from, to, text, sentAt: sentAt.toISOString() } };
    });
    const appended = entries.map(({ type, data }, index): DurableEvent => ({ id: eventIds[index] as number, type, data }));
    await storeEvents(hub, tx, entries, appended);
    entries.forEach(({ username, data }, index) => {
      const delivery = known.get(username)?.online ? "delivered" : "stored";
      stored.push({ response: { ...(data as MessageView), delivery }, event: appended[index] as DurableEvent });
    });
  }
  let next = 0;
  return refusals.map((refusal) => (refusal ? { error: refusal } : { value: stored[next++] as StoredMessage }));
}

/** History: my messages (with one user, or all), newest first, paged by id. */
export async function listMessages(
  db: Database,
  caller: string,
  options: { with?: string; before?: number; limit: number },
) {
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
  const page: MessageView[] = rows.map((row) => ({
    id: row.id,
    from: row.sender,
    to: row.recipient,
    text: row.text,
    sentAt: row.sentAt.toISOString(),
  }));
  const last = page.at(-1);
  return { messages: page, nextBefore: page.length === options.limit && last ? last.id : null };
}
