import { and, eq } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { blocks } from "../db/schema.js";
import { AppError } from "./errors.js";
import { byName, refuseSelf, requireUser } from "./users.js";

export async function blockUser(db: Database, blocker: string, target: string) {
  refuseSelf(blocker, target, "Error. Cannot block self");
  await requireUser(db, target);
  await db.insert(blocks).values({ blocker, blocked: target }).onConflictDoNothing();
  return { username: target, blocked: true as const, detail: `${target} is blocked` };
}

export async function unblockUser(db: Database, blocker: string, target: string) {
  refuseSelf(blocker, target, "Error. Cannot unblock self");
  await requireUser(db, target);
  const removed = await db
    .delete(blocks)
    .where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, target)))
    .returning({ blocked: blocks.blocked });
  if (removed.length === 0) throw new AppError("not_blocked", `Error. ${target} was not blocked`);
  return { username: target, blocked: false as const, detail: `${target} is unblocked` };
}

/** The users `blocker` has blocked, sorted. */
export async function listBlocked(db: Database, blocker: string): Promise<string[]> {
  const rows = await db.select({ blocked: blocks.blocked }).from(blocks).where(eq(blocks.blocker, blocker));
  return rows.map((row) => row.blocked).sort(byName);
}

/** Whether `blocker` has blocked `target`. */
export async function hasBlocked(db: Database, blocker: string, target: string): Promise<boolean> {
  const [row] = await db
    .select({ blocked: blocks.blocked })
    .from(blocks)
    .where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, target)));
  return row !== undefined;
}
