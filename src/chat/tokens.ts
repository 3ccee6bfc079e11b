import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { jwtVerify, SignJWT } from "jose";
import type { Database } from "../db/client.js";
import { settings } from "../db/schema.js";

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

export type TokenClaims = { sessionId: string; username: string };

export type Tokens = {
  issue(claims: TokenClaims): Promise<{ token: string; expiresAt: Date }>;
  /** The claims of a well-signed, unexpired token, or undefined. Session liveness is checked elsewhere. */
  verify(token: string): Promise<TokenClaims | undefined>;
};

/** The configured secret, else one generated once and kept in the database for restarts and other instances. */
export async function loadSigningSecret(db: Database, configured?: string): Promise<Uint8Array> {
  if (configured) return new TextEncoder().encode(configured);
  await db
    .insert(settings)
    .values({ key: "jwt_secret", value: randomBytes(32).toString("base64url") })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, "jwt_secret"));
  if (!row) throw new Error("jwt_secret setting missing after insert");
  return new TextEncoder().encode(row.value);
}

export function createTokens(secret: Uint8Array): Tokens {
  return {
    async issue({ sessionId, username }) {
      const expiresAt = new Date(Date.now() + TOKEN_LIFETIME_SECONDS * 1000);
      const token = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(username)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(secret);
      return { token, expiresAt };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"] });
        if (typeof payload.sid !== "string" || typeof payload.sub !== "string") return undefined;
        return { sessionId: payload.sid, username: payload.sub };
      } catch {
        return undefined;
      }
    },
  };
}
