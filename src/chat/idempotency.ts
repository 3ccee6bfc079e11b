import { createHash } from "node:crypto";
import { and, eq, gt, lt, sql } from "drizzle-orm";
import { queryRows, type Database, type Transaction } from "../db/client.js";
import { idempotencyKeys } from "../db/schema.js";
import { runPeriodically } from "../lib/periodic.js";
import { AppError } from "./errors.js";

export type IdempotentRoute = "POST /messages" | "POST /broadcasts";

/** A send made under an Idempotency-Key: whose key, which one, what it asked for, and how long the key holds. */
export type KeyedRequest = {
  username: string;
  key: string;
  route: IdempotentRoute;
  requestHash: string;
  /** A key older than this (by the database's clock) is as good as never used. */
  ttlSeconds: number;
};

/** Keys stored more than ttlSeconds ago, by the database's clock. */
const expired = (ttlSeconds: number) => lt(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${ttlSeconds})`);
const live = (ttlSeconds: number) => gt(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${ttlSeconds})`);

/** Describes a send for the key store; undefined when the client sent no key. */
export function keyedRequest(
  username: string,
  key: string | undefined,
  route: IdempotentRoute,
  body: Record<string, unknown>,
  ttlSeconds: number,
): KeyedRequest | undefined {
  if (key === undefined) return undefined;
  const requestHash = createHash("sha256").update(JSON.stringify(body)).digest("hex");
  return { username, key, route, requestHash, ttlSeconds };
}

/**
 * The first answer given under this key, if there is one and it has not expired. Checked before
 * anything else, so a retry answers the same even if the world changed since (the recipient blocked
 * the sender, went offline).
 */
export async function findReplay<Response>(db: Database, request: KeyedRequest | undefined): Promise<Response | undefined> {
  if (!request) return undefined;
  const [stored] = await db
    .select({ route: idempotencyKeys.route, requestHash: idempotencyKeys.requestHash, response: idempotencyKeys.response })
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.username, request.username), eq(idempotencyKeys.key, request.key), live(request.ttlSeconds)));
  if (!stored) return undefined;
  if (stored.route !== request.route || stored.requestHash !== request.requestHash) {
    throw new AppError(
      "idempotency_key_reused",
      `This Idempotency-Key was already used for a different request (${stored.route}); send a new key with a new request`,
    );
  }
  return stored.response as Response;
}

class KeyTakenMeanwhile extends Error {}

/**
 * Runs a send's transaction and, when keyed, stores its response under the key in that same
 * transaction: no message without its key, no key without its message. A concurrent twin waits on
 * the key's primary key, finds it taken, rolls its whole send back and answers the winner's response.
 * An expired key not swept yet is taken over, as if it had never been stored.
 * `replayed` tells the caller whether this call sent anything (and so must publish it).
 */
export async function sendOnce<Sent extends { response: object }>(
  db: Database,
  request: KeyedRequest | undefined,
  send: (tx: Transaction) => Promise<Sent>,
): Promise<(Sent & { replayed: false }) | { replayed: true; response: Sent["response"] }> {
  try {
    const sent = await db.transaction(async (tx) => {
      const sent = await send(tx);
      if (request) {
        const { username, key, route, requestHash } = request;
        const [claimed] = await tx
          .insert(idempotencyKeys)
          .values({ username, key, route, requestHash, response: sent.response })
          .onConflictDoUpdate({
            target: [idempotencyKeys.username, idempotencyKeys.key],
            set: { route, requestHash, response: sent.response, createdAt: sql`now()` },
            setWhere: expired(request.ttlSeconds),
          })
          .returning({ key: idempotencyKeys.key });
        if (!claimed) throw new KeyTakenMeanwhile();
      }
      return sent;
    });
    return { ...sent, replayed: false };
  } catch (error) {
    if (!(error instanceof KeyTakenMeanwhile)) throw error;
    const response = await findReplay<Sent["response"]>(db, request);
    if (!response) throw new Error("idempotency key taken by a transaction that left no row", { cause: error });
    return { replayed: true, response };
  }
}

/** Any number that no other advisory lock of this service uses: "idem" in ASCII. */
export const KEY_SWEEP_LOCK = 0x6964656d;

/**
 * Deletes the keys older than the TTL; answers how many, or undefined when another instance holds
 * the sweep (a transaction-level advisory lock, released at its commit). The delete is idempotent:
 * a second sweep right after finds nothing to do.
 */
export async function deleteExpiredKeys(db: Database, ttlSeconds: number): Promise<number | undefined> {
  return db.transaction(async (tx) => {
    const [lock] = await queryRows<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${KEY_SWEEP_LOCK}) as locked`);
    if (!lock?.locked) return undefined;
    const deleted = await tx.delete(idempotencyKeys).where(expired(ttlSeconds)).returning({ key: idempotencyKeys.key });
    return deleted.length;
  });
}

/** How often expired keys are swept: every 24th of the TTL, but no more than once a second and at least every hour. */
export const keySweepIntervalMs = (ttlSeconds: number) => Math.max(1000, Math.min(3_600_000, (ttlSeconds * 1000) / 24));

/** Sweeps expired keys every keySweepIntervalMs; returns the stop. */
export function startKeySweeper(db: Database, ttlSeconds: number, onError: (error: unknown) => void): () => void {
  return runPeriodically(keySweepIntervalMs(ttlSeconds), () => deleteExpiredKeys(db, ttlSeconds), onError);
}
