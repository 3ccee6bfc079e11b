import { and, eq, ne } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { users } from "../db/schema.js";
import { AppError } from "./errors.js";
import { DISABLED_HASH } from "./passwords.js";

export const INVALID_USER = "Error. Invalid user";

/** Throws unknown_user unless `username` is an account from the credentials file. */
export async function requireUser(db: Database, username: string): Promise<void> {
  const [row] = await db
    .select({ username: users.username })
    .from(users)
    .where(and(eq(users.username, username), ne(users.passwordHash, DISABLED_HASH)));
  if (!row) throw new AppError("unknown_user", INVALID_USER);
}

/** Throws self_target when a command names its own caller. */
export function refuseSelf(caller: string, target: string, detail: string): void {
  if (caller === target) throw new AppError("self_target", detail);
}

/** Code-point order, so the listing is the same on every database collation. */
export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
