import { and, eq, isNull, ne, sql } from "drizzle-orm";
import { textArray } from "../db/client.js";
import { blocks, broadcasts, sessions } from "../db/schema.js";
import type { ChatContext } from "./context.js";
import { appendEvents } from "./event-log.js";
import { findReplay, keyedRequest, sendOnce } from "./idempotency.js";

const SOME_SKIPPED = "Your message could not be delivered to some recipients";

export type SentBroadcast = {
  id: number;
  from: string;
  text: string;
  sentAt: string;
  recipients: number;
  allDelivered: boolean;
  detail?: string;
};

/**
 * broadcast: to every online user but the sender and those who blocked the sender; never stored for
 * offline users. A retry under the same idempotency key answers the first response and sends nothing.
 */
export async function sendBroadcast(context: ChatContext, from: string, text: string, idempotencyKey?: string) {
  const { db, hub } = context;
  const keyed = keyedRequest(from, idempotencyKey, "POST /broadcasts", { text }, context.settings.idempotencyKeyTtlSeconds);
  const replay = await findReplay<SentBroadcast>(db, keyed);
  if (replay) return replay;
  const sentAt = new Date();
  const result = await sendOnce(db, keyed, async (tx) => {
    const online = await tx
      .selectDistinct({ username: sessions.username })
      .from(sessions)
      .where(and(isNull(sessions.endedAt), ne(sessions.username, from)));
    const onlineNames = online.map((row) => row.username);
    const blockers =
      onlineNames.length === 0
        ? []
        : await tx
            .select({ blocker: blocks.blocker })
            .from(blocks)
            .where(and(eq(blocks.blocked, from), sql`${blocks.blocker} = any(${textArray(onlineNames)})`));
    const skipped = new Set(blockers.map((row) => row.blocker));
    const recipients = onlineNames.filter((name) => !skipped.has(name));
    const [row] = await tx
      .insert(broadcasts)
      .values({ sender: from, text, sentAt, recipientCount: recipients.length })
      .returning({ id: broadcasts.id });
    if (!row) throw new Error("broadcast insert returned nothing");
    const view = { id: row.id, from, text, sentAt: sentAt.toISOString() };
    const events = await appendEvents(hub.commitNotices, tx, recipients, { type: "broadcast", data: view });
    const allDelivered = skipped.size === 0;
    const response: SentBroadcast = {
      ...view,
      recipients: recipients.length,
      allDelivered,
      ...(allDelivered ? {} : { detail: SOME_SKIPPED }),
    };
    return { response, events };
  });
  if (result.replayed) return result.response;
  for (const [username, event] of result.events) hub.publish(username, event);
  context.telemetry?.broadcastAccepted(result.response.recipients);
  return result.response;
}
