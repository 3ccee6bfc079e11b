import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const KEY_LENGTH = 32;
/** scrypt's r and p, as OWASP recommends them with N = 2^17 (the default cost, see config.ts). */
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

/**
 * OpenSSL refuses to derive when scrypt would need more than maxmem: 128·r·(N + p + 2) bytes,
 * 128 MiB at N = 2^17. Twice 128·N·r leaves room for that.
 */
const maxMemory = (cost: number) => 2 * 128 * cost * BLOCK_SIZE;

function derive(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N: cost, r: BLOCK_SIZE, p: PARALLELISM, maxmem: maxMemory(cost) }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Stored for a user removed from the credentials file: matches no password. */
export const DISABLED_HASH = "!";

/** A salted scrypt hash that records its own cost: `scrypt$N$salt$key` (base64url). */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return `scrypt$${cost}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, cost, salt, key] = stored.split("$");
  if (scheme !== "scrypt" || !cost || !salt || !key) return false;
  const expected = Buffer.from(key, "base64url");
  const actual = await derive(password, Buffer.from(salt, "base64url"), Number(cost));
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The cost a stored hash was made with, so a changed setting can trigger a re-hash. */
export function hashCost(stored: string): number {
  return Number(stored.split("$")[1]);
}
