import { and, asc, eq, gt, inArray, sql } from "drizzle-orm";
import type { Database, Transaction } from "../db/client.js";
import { events, users } from "../db/schema.js";
import type { DurableEvent, DurableEventType } from "./events.js";
import type { Hub } from "./hub.js";

/**
 * The one place that numbers and stores durable events. Ids come from a per-user counter bumped
 * under the user's row lock, so a user's events commit in id order: a reader that has seen id n
 * never later finds an id below n appear. The hub may add a notice that goes out with the commit.
 */
export async function appendEvents(
  hub: Hub,
  tx: Transaction,
  recipients: readonly string[],
  type: DurableEventType,
  data: Record<string, unknown>,
): Promise<Map<string, DurableEvent>> {
  const appended = new Map<string, DurableEvent>();
  if (recipients.length === 0) return appended;
  const names = [...recipients].sort();
  if (names.length > 1) {
    // Lock in name order so two fan-outs over overlapping users cannot deadlock; "no key update"
    // does not conflict with the key-share locks foreign keys take on users rows.
    await tx.select({ username: users.username }).from(users).where(inArray(users.username, names)).orderBy(asc(users.username)).for("no key update");
  }
  const numbered = await tx
    .update(users)
    .set({ lastEventId: sql`${users.lastEventId} + 1` })
    .where(inArray(users.username, names))
    .returning({ username: users.username, id: users.lastEventId });
  for (const { username, id } of numbered) appended.set(username, { id, type, data });
  const rows = numbered.map(({ username, id }) => ({ username, id, type, data }));
  for (let start = 0; start < rows.length; start += 2000) {
    await tx.insert(events).values(rows.slice(start, start + 2000));
  }
  await hub.inTransaction?.(tx, numbered);
  return appended;
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

/** Where a stream opened without Last-Event-ID starts, and the highest id the user has at all. */
export async function readEventCursor(
  db: Database,
  username: string,
): Promise<{ deliveredEventId: number; lastEventId: number } | undefined> {
  const [row] = await db
    .select({ deliveredEventId: users.deliveredEventId, lastEventId: users.lastEventId })
    .from(users)
    .where(eq(users.username, username));
  return row;
}

/** Records how far each user's streams have been written; batched because it is written a lot. */
export function createDeliveredCursor(db: Database) {
  const pending = new Map<string, number>();
  return {
    advance(username: string, id: number) {
      if ((pending.get(username) ?? 0) < id) pending.set(username, id);
    },
    async flush() {
      const batch = [...pending];
      pending.clear();
      for (const [username, id] of batch) {
        await db
          .update(users)
          .set({ deliveredEventId: sql`greatest(${users.deliveredEventId}, ${id})` })
          .where(eq(users.username, username));
      }
    },
  };
}

export type DeliveredCursor = ReturnType<typeof createDeliveredCursor>;
