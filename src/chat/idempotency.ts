import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Database, Transaction } from "../db/client.js";
import { idempotencyKeys } from "../db/schema.js";
import { AppError } from "./errors.js";

export type IdempotentRoute = "POST /messages" | "POST /broadcasts";

/** A send made under an Idempotency-Key: whose key, which one, and what it asked for. */
export type KeyedRequest = { username: string; key: string; route: IdempotentRoute; requestHash: string };

/** Describes a send for the key store; undefined when the client sent no key. */
export function keyedRequest(
  username: string,
  key: string | undefined,
  route: IdempotentRoute,
  body: Record<string, unknown>,
): KeyedRequest | undefined {
  if (key === undefined) return undefined;
  const requestHash = createHash("sha256").update(JSON.stringify(body)).digest("hex");
  return { username, key, route, requestHash };
}

/**
 * The first answer given under this key, if there is one. Checked before anything else, so a retry
 * answers the same even if the world changed since (the recipient blocked the sender, went offline).
 */
export async function findReplay<Response>(db: Database, request: KeyedRequest | undefined): Promise<Response | undefined> {
  if (!request) return undefined;
  const [stored] = await db
    .select({ route: idempotencyKeys.route, requestHash: idempotencyKeys.requestHash, response: idempotencyKeys.response })
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.username, request.username), eq(idempotencyKeys.key, request.key)));
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
        const [claimed] = await tx
          .insert(idempotencyKeys)
          .values({ ...request, response: sent.response })
          .onConflictDoNothing()
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
