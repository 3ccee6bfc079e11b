import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";
import { expect } from "vitest";
import { queryRows, type Database } from "../../src/db/client.js";
import { settings } from "../../src/db/schema.js";
import { problemStatus } from "../../src/http/problem.js";
import type { TestChat } from "../support/chat.js";

/** Runs per property: enough to reach the odd corners, few enough for < 60 s on two busy cores. */
export const NUM_RUNS = 100;
/** A property's time limit: well above its usual 10-20 s, for machines busier than that. */
export const PROPERTY_TIMEOUT_MS = 120_000;

export type Operation = {
  method: string;
  /** The OpenAPI template, e.g. /blocks/{username}. */
  path: string;
  secured: boolean;
  queryParameters: string[];
  hasJsonBody: boolean;
};

type OpenApiDocument = {
  paths: Record<
    string,
    Record<string, { security?: unknown[]; parameters?: { name: string; in: string }[]; requestBody?: unknown }>
  >;
};

/** Every operation the app declares in its own OpenAPI document. */
export async function operationsOf(chat: TestChat): Promise<Operation[]> {
  const document = (await (await chat.request("GET", "/openapi.json")).json()) as OpenApiDocument;
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      secured: (operation.security ?? []).length > 0,
      queryParameters: (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
      hasJsonBody: operation.requestBody !== undefined,
    })),
  );
}

export const fillPath = (template: string, value: string) => template.replace(/\{[^}]+\}/g, value);

export type StateCounts = Record<string, number>;

/** Row counts of everything a request could create or end; one query so it is cheap per run. */
export async function stateCounts(db: Database): Promise<StateCounts> {
  const [row] = await queryRows<StateCounts>(
    db,
    sql`select
      (select count(*)::int from messages) as messages,
      (select count(*)::int from broadcasts) as broadcasts,
      (select count(*)::int from blocks) as blocks,
      (select count(*)::int from sessions) as sessions,
      (select count(*)::int from sessions where ended_at is null) as live_sessions,
      (select count(*)::int from events) as events,
      (select count(*)::int from private_sessions where ended_at is null) as live_private_sessions,
      (select count(*)::int from idempotency_keys) as idempotency_keys`,
  );
  return row!;
}

/** A 4xx RFC 9457 problem with the members every problem carries, its code matching its status. */
export async function expectClientProblem(response: Response, what: string) {
  const text = await response.text();
  expect(response.status, `${what} -> ${response.status} ${text}`).toBeGreaterThanOrEqual(400);
  expect(response.status, `${what} -> ${response.status} ${text}`).toBeLessThan(500);
  expect(response.headers.get("content-type"), what).toBe("application/problem+json");
  if (response.status === 405 || text === "") return; // HEAD answers carry no body
  const problem = JSON.parse(text) as Record<string, unknown>;
  expect(problem, what).toMatchObject({
    type: expect.stringMatching(/^\/problems\/[a-z-]+$/),
    title: expect.any(String),
    status: response.status,
    code: expect.any(String),
    detail: expect.any(String),
  });
  expect(problemStatus[problem.code as keyof typeof problemStatus], what).toBe(response.status);
  if (problem.code === "rate_limited") expect(response.headers.get("retry-after"), what).toMatch(/^\d+$/);
  return problem;
}

/** Drains or cancels a response so an accidentally opened event stream does not outlive its run. */
export async function discard(response: Response) {
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) await response.body?.cancel();
  else await response.arrayBuffer();
}

/** encodeURIComponent, but a lone surrogate becomes U+FFFD instead of throwing. */
export const encodeQueryValue = (value: string) => encodeURIComponent(Buffer.from(value).toString());

/** Fetch refuses header values with NUL, CR, LF or characters above U+00FF before anything reaches the app. */
export const isHeaderValue = (value: string) => /^[^\0\r\n]*$/.test(value) && [...value].every((c) => c.codePointAt(0)! <= 0xff);

/** Strings of every kind: printable ASCII, any code point, any Latin-1 byte, and the odd ones apps trip on. */
export const anyString = (maxLength = 40) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "binary-ascii", maxLength }),
    fc.constantFrom(
      "",
      " ",
      "\u0000",
      "a\u0000b",
      "\uD800",
      "\uFEFF",
      "%00",
      "%",
      "../..",
      "null",
      "[]",
      "{}",
      "-1",
      "1e400",
      "9".repeat(30),
    ),
  );

/** The server's signing secret, read where loadSigningSecret keeps it, to forge otherwise perfect tokens. */
export async function serverSecret(db: Database): Promise<Uint8Array> {
  const [row] = await db.select().from(settings).where(eq(settings.key, "jwt_secret"));
  if (!row) throw new Error("no jwt_secret setting");
  return new TextEncoder().encode(row.value);
}

export type TokenMaterial = {
  secret: Uint8Array;
  /** A live session's token, its user and another user. */
  liveToken: string;
  liveUser: string;
  otherUser: string;
  /** A token whose session was logged out. */
  endedToken: string;
};

const now = () => Math.floor(Date.now() / 1000);

function sign(
  claims: Record<string, unknown>,
  secret: Uint8Array,
  build: (jwt: SignJWT) => SignJWT = (jwt) => jwt,
  alg = "HS256",
) {
  return build(new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" })).sign(secret);
}

/**
 * Tokens that must all be refused with 401: expired, wrongly signed, unsigned (`alg: none`), for an
 * ended session, truncated, tampered, with claims that do not match the session, or plain junk.
 */
export function badTokens(material: TokenMaterial): fc.Arbitrary<Promise<string> | string> {
  const { secret, liveToken, liveUser, otherUser, endedToken } = material;
  const sid = decodeJwt(liveToken).sid as string;
  const live = { sid, sub: liveUser };
  return fc.oneof(
    fc
      .integer({ min: 1, max: 10_000_000 })
      .map((ago) => sign(live, secret, (jwt) => jwt.setIssuedAt(now() - ago - 60).setExpirationTime(now() - ago))),
    fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((otherSecret) => sign(live, otherSecret, (jwt) => jwt.setIssuedAt().setExpirationTime("1h"))),
    fc.constant(live).map((claims) => new UnsecuredJWT(claims).setIssuedAt().setExpirationTime("1h").encode()),
    fc.constant(endedToken),
    fc.integer({ min: 0, max: liveToken.length - 1 }).map((length) => liveToken.slice(0, length)),
    fc.constantFrom("HS384", "HS512").map((alg) => sign(live, secret, (jwt) => jwt.setExpirationTime("1h"), alg)),
    fc
      .constantFrom<Record<string, unknown>>(
        { sid, sub: otherUser },
        { sid: randomUUID(), sub: liveUser },
        { sid: "not-a-session-id", sub: liveUser },
        { sub: liveUser },
        { sid },
        { sid: 42, sub: liveUser },
        { sid, sub: [liveUser] },
      )
      .map((claims) => sign(claims, secret, (jwt) => jwt.setExpirationTime("1h"))),
    fc.constant(live).map((claims) => sign(claims, secret, (jwt) => jwt.setNotBefore("1h").setExpirationTime("2h"))),
    // The live token's signature on someone else's claims.
    fc.constant(liveToken).map((token) => {
      const [header, , signature] = token.split(".");
      const payload = Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: otherUser })).toString("base64url");
      return `${header}.${payload}.${signature}`;
    }),
    fc
      .tuple(anyString(60), anyString(60), anyString(60))
      .map((parts) => parts.map((part) => Buffer.from(part).toString("base64url")).join(".")),
    anyString(300),
  );
}

/** The many ways of (mis)sending a token in the Authorization header; `{token}` stands for it. */
export const authorizationFormat = fc.constantFrom(
  "Bearer {token}",
  "bearer {token}",
  "Bearer  {token} ",
  "Basic {token}",
  "{token}",
  "Bearer {token} extra",
  "Bearer",
  "Bearer {token}, Bearer {token}",
);
export const authorizationHeader = (format: string, token: string) => format.replaceAll("{token}", token);
