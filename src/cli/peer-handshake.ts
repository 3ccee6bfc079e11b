import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/**
 * How two peers show each other they hold their private session's secret (which the server gave both)
 * without ever sending it: the dialler picks a fresh nonce and sends an HMAC of the secret over its role,
 * both names and the nonce; the acceptor answers with an HMAC over its own role, the names and the same
 * nonce. Whoever merely knows an address or a port, or listens at one, can make neither proof. The roles
 * stop one side's proof being sent back as the other's; the acceptor refuses a nonce it has already
 * accepted, so a hello seen on the wire cannot be replayed.
 */

/** The session secret as the server hands it out (at least 128 bits; ours are 256, as base64url). */
export const sessionSecretSchema = z.string().min(22).max(512);

/** 128 random bits, base64url: 22 characters. */
export const nonceSchema = z.string().regex(/^[\w-]{22,64}$/);

/** An HMAC-SHA256, base64url: 43 characters. */
export const proofSchema = z.string().regex(/^[\w-]{43}$/);

export type HandshakeRole = "dial" | "accept";

export const newNonce = (): string => randomBytes(16).toString("base64url");

/** What `from`, in `role`, sends `to` for `nonce`: only a holder of `secret` can compute it. */
export function handshakeProof(secret: string, role: HandshakeRole, from: string, to: string, nonce: string): string {
  // A JSON array, so no choice of names can make two different inputs read the same.
  return createHmac("sha256", secret)
    .update(JSON.stringify(["chat-private-session", role, from, to, nonce]))
    .digest("base64url");
}

/** Compares in constant time, so a caller learns nothing from how long a refusal took. */
export function proofMatches(expected: string, given: string): boolean {
  const wanted = Buffer.from(expected);
  const offered = Buffer.from(given);
  return wanted.length === offered.length && timingSafeEqual(wanted, offered);
}
