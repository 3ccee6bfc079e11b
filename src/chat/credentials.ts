import { readFile } from "node:fs/promises";
import { eq } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { users } from "../db/schema.js";
import { DISABLED_HASH, hashCost, hashPassword, verifyPassword } from "./passwords.js";
import { isUsername, USERNAME_RULE } from "./username.js";

export class CredentialsError extends Error {}

export type Credential = { username: string; password: string };

/** Parses `username password` lines (one space, case-sensitive); blank lines are skipped. */
export function parseCredentials(text: string, fileName = "credentials file"): Credential[] {
  const seen = new Set<string>();
  const credentials: Credential[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const lineNumber = index + 1;
    const parts = line.split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new CredentialsError(`${fileName} line ${lineNumber}: expected "username password" separated by one space`);
    }
    const [username, password] = parts as [string, string];
    if (!isUsername(username)) {
      throw new CredentialsError(`${fileName} line ${lineNumber}: username ${JSON.stringify(username)} must be ${USERNAME_RULE}`);
    }
    if (seen.has(username)) throw new CredentialsError(`${fileName} line ${lineNumber}: username "${username}" appears twice`);
    seen.add(username);
    credentials.push({ username, password });
  });
  if (credentials.length === 0) throw new CredentialsError(`${fileName}: no users`);
  return credentials;
}

export async function readCredentialsFile(path: string): Promise<Credential[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CredentialsError(`cannot read credentials file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseCredentials(text, path);
}

/**
 * Makes the file the truth: every user in it is stored with a salted slow hash (kept while the
 * password still matches at the configured cost, re-hashed otherwise); users no longer in it are
 * disabled, keeping their history.
 */
export async function syncUsers(db: Database, credentials: Credential[], cost: number): Promise<void> {
  const fileUsers = new Set(credentials.map((credential) => credential.username));
  const stored = await db.select({ username: users.username }).from(users);
  await upsertUsers(db, credentials, cost);
  for (const { username } of stored) {
    if (!fileUsers.has(username)) {
      await db.update(users).set({ passwordHash: DISABLED_HASH }).where(eq(users.username, username));
    }
  }
}

/** Adds or updates the given users, leaving every other user alone. */
export async function upsertUsers(db: Database, credentials: Credential[], cost: number): Promise<void> {
  const existing = new Map(
    (await db.select({ username: users.username, passwordHash: users.passwordHash }).from(users)).map((row) => [
      row.username,
      row.passwordHash,
    ]),
  );
  await Promise.all(
    credentials.map(async ({ username, password }) => {
      const stored = existing.get(username);
      if (stored && hashCost(stored) === cost && (await verifyPassword(password, stored))) return;
      const passwordHash = await hashPassword(password, cost);
      await db
        .insert(users)
        .values({ username, passwordHash })
        .onConflictDoUpdate({ target: users.username, set: { passwordHash } });
    }),
  );
}
