// The fast-check generators of bad input, shared by the property tests and the fuzz campaign (scripts/fuzz.ts).
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";
import { MAX_BODY_BYTES } from "../../src/http/body-limit.js";

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

/** Every operation an OpenAPI document declares. */
export function operationsIn(document: unknown): Operation[] {
  return Object.entries((document as OpenApiDocument).paths).flatMap(([path, methods]) =>
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

const escapeForPath = (text: string) => text.replace(/[/?#\\%]/g, (character) => encodeURIComponent(character));

/** Path segments: encoded junk, raw printable junk, and the classics (bad escapes, NUL, dot segments, huge). */
export const pathSegment = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  fc.string({ maxLength: 20 }).map(escapeForPath),
  fc.constantFrom(
    "",
    ".",
    "..",
    "%",
    "%ZZ",
    "%00",
    "a%00b",
    "%2F",
    "%2e%2e",
    "%C0%AF",
    "%FF",
    "%ED%A0%80",
    ";",
    "*",
    "x".repeat(3000),
  ),
);

/** Query values of every kind, especially numbers out of every range. */
export const queryValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom(
    "",
    "%",
    "%ZZ",
    "%00",
    "0",
    "-1",
    "1.5",
    "1e400",
    "NaN",
    "Infinity",
    "0x10",
    "%201",
    "9007199254740993",
    "99999999999999999999",
    "1,2",
  ),
);

/** Mostly a JSON type, so most bodies get past the media-type gate to validation and the domain. */
export const contentType = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON",
      "application/problem+json",
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "text/plain",
      "text/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "",
    ),
  },
  { weight: 1, arbitrary: anyString(40) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

export const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

// Texts no send may accept: empty, blank, too long, NUL (PostgreSQL text refuses it), a lone surrogate (JSON columns refuse it).
const badText = fc.oneof(
  fc.constantFrom("", " ", "\n\t ", "x".repeat(4097), "\u0000", "nul\u0000inside", "\uD800", "lone \uDC00 low"),
  notAString,
);

const extraKeys = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), {
  minKeys: 1,
  maxKeys: 2,
});

/** Who a body may name: the sender, another user, and a user whose wrong passwords are sent (`victim`). */
export type BodyNames = { self: string; other: string; victim: string; victimPassword: string };

/** Bodies shaped almost like the route's, each wrong in at least one way. */
function nearlyValid(operation: Operation, names: BodyNames): fc.Arbitrary<unknown> {
  if (operation.path === "/messages") {
    return fc.oneof(
      // to: yourself, someone unknown, or not a name at all; text: anything
      fc.record(
        {
          to: fc.oneof(fc.constant(names.self), anyString(), notAString),
          text: fc.oneof(fc.constant("hi"), badText, anyString(50)),
        },
        { requiredKeys: [] },
      ),
      fc.record({ to: fc.constant(names.other), text: badText }, { requiredKeys: ["to"] }),
      extraKeys.map((extra) => ({ ...extra, to: names.other, text: "hi" })).filter((body) => Object.keys(body).length > 2),
    );
  }
  if (operation.path === "/broadcasts") {
    return fc.oneof(
      fc.record({ text: badText }, { requiredKeys: [] }),
      extraKeys.map((extra) => ({ ...extra, text: "hi" })).filter((body) => Object.keys(body).length > 1),
    );
  }
  // login: an unknown username, or the victim with a wrong password; ports and hosts of every kind
  return fc.record(
    {
      username: fc.oneof(fc.constant(names.victim), anyString(80), notAString),
      password: fc.oneof(anyString(80), notAString).filter((password) => password !== names.victimPassword),
      p2pPort: fc.oneof(fc.integer(), fc.double(), anyString(8)),
      p2pHost: fc.oneof(anyString(300), notAString),
    },
    { requiredKeys: ["username", "password"] },
  );
}

/** A body that would be accepted, to cut short or blow past the size limit. */
function acceptable(operation: Operation, names: BodyNames): Record<string, unknown> {
  if (operation.path === "/messages") return { to: names.other, text: "hello" };
  if (operation.path === "/broadcasts") return { text: "hello" };
  return { username: names.victim, password: names.victimPassword };
}

/** Bodies for a route that takes JSON: junk, any JSON, nearly right, cut short, doubled, or over the size limit. */
export function jsonBody(operation: Operation, names: BodyNames): fc.Arbitrary<string> {
  const valid = JSON.stringify(acceptable(operation, names));
  return fc.oneof(
    anyString(200),
    fc.jsonValue().map((value) => JSON.stringify(value)),
    { weight: 4, arbitrary: nearlyValid(operation, names).map((value) => JSON.stringify(value)) },
    fc.integer({ min: 0, max: valid.length - 1 }).map((length) => valid.slice(0, length)),
    fc.constantFrom(`${valid}}`, `[${valid}]`, `${valid}${valid}`, valid.replace(/"/g, "'")),
    fc.constant(JSON.stringify({ ...acceptable(operation, names), padding: "x".repeat(MAX_BODY_BYTES) })),
  );
}
