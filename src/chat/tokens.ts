import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { jwtVerify, SignJWT } from "jose";
import { LRUCache } from "lru-cache";
import type { Database } from "../db/client.js";
import { settings } from "../db/schema.js";

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

type TokenClaims = { sessionId: string; username: string };

export type Tokens = {
  issue(claims: TokenClaims): Promise<{ token: string; expiresAt: Date }>;
  /** The claims of a well-signed, unexpired token, or undefined. Session liveness is checked elsewhere. */
  verify(token: string): Promise<TokenClaims | undefined>;
};

/** The configured secret, else one generated once and kept in the database for restarts and other instances. */
export async function loadSigningSecret(db: Database, configured?: string): Promise<Uint8Array<ArrayBuffer>> {
  if (configured) return new TextEncoder().encode(configured);
  await db
    .insert(settings)
    .values({ key: "jwt_secret", value: randomBytes(32).toString("base64url") })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, "jwt_secret"));
  // Stryker disable next-line ConditionalExpression: the row was just inserted or was already there; this cannot happen.
  if (!row) throw new Error("jwt_secret setting missing after insert");
  return new TextEncoder().encode(row.value);
}

/** Tokens already verified: a client sends the same one with every request, and checking a signature is not free. */
const VERIFIED_CACHE_SIZE = 10_000;

export async function createTokens(secret: Uint8Array<ArrayBuffer>): Promise<Tokens> {
  // Imported once: handing jose the raw bytes would import the key again on every call.
  // Stryker disable next-line BooleanLiteral: the key is never exported, so whether it could be changes nothing.
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const verified = new LRUCache<string, TokenClaims & { expiresAtMs: number }>({ max: VERIFIED_CACHE_SIZE });
  return {
    async issue({ sessionId, username }) {
      const expiresAt = new Date(Date.now() + TOKEN_LIFETIME_SECONDS * 1000);
      const token = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(username)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(key);
      return { token, expiresAt };
    },
    async verify(token) {
      const known = verified.get(token);
      // Stryker disable next-line ConditionalExpression,BlockStatement: without the cache jose verifies the token again and answers the same, only slower.
      if (known) {
        return known.expiresAtMs > Date.now() ? { sessionId: known.sessionId, username: known.username } : undefined;
      }
      try {
        // Stryker disable next-line ObjectLiteral,ArrayDeclaration,StringLiteral: the key is imported for HMAC-SHA-256 only, so jose refuses any other algorithm with or without the list.
        const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
        if (typeof payload.sid !== "string" || typeof payload.sub !== "string" || typeof payload.exp !== "number")
          return undefined;
        const claims = { sessionId: payload.sid, username: payload.sub };
        verified.set(token, { ...claims, expiresAtMs: payload.exp * 1000 });
        return claims;
      } catch {
        return undefined;
      }
    },
  };
}
