import { and, gte, isNull, ne, or, sql } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { sessions } from "../db/schema.js";
import { listBlocked } from "./blocks.js";
import type { Hub } from "./hub.js";
import { byName } from "./users.js";

/** Other users online now (whoelse), or online at any moment in the last `sinceSeconds` (whoelsesince). */
export async function listOnline(db: Database, caller: string, sinceSeconds?: number): Promise<string[]> {
  const window =
    sinceSeconds === undefined
      ? isNull(sessions.endedAt)
      : or(isNull(sessions.endedAt), gte(sessions.endedAt, sql`now() - make_interval(secs => ${sinceSeconds})`));
  const rows = await db
    .selectDistinct({ username: sessions.username })
    .from(sessions)
    .where(and(ne(sessions.username, caller), window));
  return rows.map((row) => row.username).sort(byName);
}

/** Live sessions, on every instance (the sessions-online gauge). */
export function countOnline(db: Database): Promise<number> {
  return db.$count(sessions, isNull(sessions.endedAt));
}

/** Tells every other open stream that `username` came or went, except the users it has blocked. */
export async function announcePresence(db: Database, hub: Hub, username: string, status: "online" | "offline", at: Date) {
  announcePresenceTo(hub, username, status, at, await listBlocked(db, username));
}

/** announcePresence, with the users `username` blocked already at hand. */
export function announcePresenceTo(
  hub: Hub,
  username: string,
  status: "online" | "offline",
  at: Date,
  blocked: readonly string[],
) {
  hub.announce({ type: "presence", data: { username, status, at: at.toISOString() } }, username, new Set(blocked));
}
