import { and, desc, eq, isNull, lt, or } from "drizzle-orm";
import { messages, sessions } from "../db/schema.js";
import { AppError } from "../lib/problem.js";
import { hasBlocked } from "./blocks.js";
import type { ChatContext } from "./context.js";
import { appendEvents } from "./event-log.js";
import type { Database } from "../db/client.js";
import { findReplay, keyedRequest, sendOnce } from "./idempotency.js";
import { refuseSelf, requireUser } from "./users.js";

export type MessageView = { id: number; from: string; to: string; text: string; sentAt: string };
export type SentMessage = MessageView & { delivery: "delivered" | "stored" };

/**
 * message: stores the message and the recipient's numbered event in one transaction, then hands
 * the event to the hub. Offline recipients get it from the log at their next stream. A retry under
 * the same idempotency key answers the first response and sends nothing.
 */
export async function sendMessage(context: ChatContext, from: string, to: string, text: string, idempotencyKey?: string) {
  const { db, hub } = context;
  const keyed = keyedRequest(from, idempotencyKey, "POST /messages", { to, text });
  const replay = await findReplay<SentMessage>(db, keyed);
  if (replay) return replay;
  refuseSelf(from, to, "Error. Cannot message self");
  await requireUser(db, to);
  if (await hasBlocked(db, to, from)) {
    throw new AppError("blocked", "Your message could not be delivered as the recipient has blocked you");
  }
  const sentAt = new Date();
  const sent = await sendOnce(db, keyed, async (tx) => {
    const [message] = await tx.insert(messages).values({ sender: from, recipient: to, text, sentAt }).returning({ id: messages.id });
    if (!message) throw new Error("message insert returned nothing");
    const view: MessageView = { id: message.id, from, to, text, sentAt: sentAt.toISOString() };
    const appended = await appendEvents(hub, tx, [to], "message", view);
    const [live] = await tx
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.username, to), isNull(sessions.endedAt)));
    const response: SentMessage = { ...view, delivery: live ? "delivered" : "stored" };
    return { response, event: appended.get(to) };
  });
  if (sent.replayed) return sent.response;
  if (sent.event) hub.publish(to, sent.event);
  context.telemetry?.messageAccepted();
  return sent.response;
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
