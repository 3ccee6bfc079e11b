import { and, eq, inArray, isNull, ne } from "drizzle-orm";
import { blocks, broadcasts, sessions } from "../db/schema.js";
import type { ChatContext } from "./context.js";
import { appendEvents } from "./event-log.js";

export const SOME_SKIPPED = "Your message could not be delivered to some recipients";

/** broadcast: to every online user but the sender and those who blocked the sender; never stored for offline users. */
export async function sendBroadcast(context: ChatContext, from: string, text: string) {
  const { db, hub } = context;
  const sentAt = new Date();
  const result = await db.transaction(async (tx) => {
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
            .where(and(eq(blocks.blocked, from), inArray(blocks.blocker, onlineNames)));
    const skipped = new Set(blockers.map((row) => row.blocker));
    const recipients = onlineNames.filter((name) => !skipped.has(name));
    const [row] = await tx
      .insert(broadcasts)
      .values({ sender: from, text, sentAt, recipientCount: recipients.length })
      .returning({ id: broadcasts.id });
    if (!row) throw new Error("broadcast insert returned nothing");
    const view = { id: row.id, from, text, sentAt: sentAt.toISOString() };
    const events = await appendEvents(tx, recipients, "broadcast", view);
    return { view, events, recipients: recipients.length, skipped: skipped.size };
  });
  for (const [username, event] of result.events) hub.publish(username, event);
  const allDelivered = result.skipped === 0;
  return {
    ...result.view,
    recipients: result.recipients,
    allDelivered,
    ...(allDelivered ? {} : { detail: SOME_SKIPPED }),
  };
}
