import fc from "fast-check";
import {
  anyString,
  authorizationFormat,
  badTokens,
  contentType,
  fillPath,
  jsonBody,
  notAString,
  pathSegment,
  queryValue,
  type Operation,
  type TokenMaterial,
} from "../arbitraries.js";
import type { Framing } from "./raw-http.js";

/** How a request carries a token: none, a live one of an actor, or one that must be refused. */
type Auth =
  | { kind: "none" }
  | { kind: "live"; actor: number; placement: "header" | "query" }
  | { kind: "bad"; token: Promise<string> | string; placement: "header" | "query"; format: string };

/** A request before its token is filled in: everything but the token is fixed by the seed. */
export type FuzzRequest = {
  /** The operation it was made from, for the report (`GET /events`, or an extra path such as `GET /`). */
  label: string;
  /** A probe is meant to be refused; traffic is the well-formed use that gives probes state to hit (or may be). */
  intent: "probe" | "traffic";
  /** The path is the operation's own (its parameter filled in), so the operation's auth rule applies. */
  ownPath: boolean;
  secured: boolean;
  method: string;
  path: string;
  /** `?...` or empty. */
  query: string;
  auth: Auth;
  headers: [string, string][];
  body: Buffer | undefined;
  framing: Framing;
  /** The only thing wrong is a malformed string (see MALFORMED_STRINGS), so the answer must be 400 validation_error. */
  expectValidationError?: boolean;
  /** How long an event stream, if one opens, is read before we close it. */
  streamHoldMs: number;
  /** Traffic that logs an actor in or out, so the campaign keeps its tokens current. */
  effect?: { kind: "login" | "logout"; actor: number };
};

/** The users of a campaign, by role; every one is in the server's credentials file. */
export type Cast = {
  /** Logged in for the whole run (re-logged in after a logout). */
  actors: string[];
  /** Wrong passwords are sent for them only, so lockouts never stop the actors. */
  victims: string[];
  /** Never logged in: messages to them are stored. */
  offline: string;
  passwords: Record<string, string>;
};

/** Paths the document does not declare but the server answers. */
const EXTRA_OPERATIONS: Operation[] = ["/", "/docs", "/openapi.json", "/no/such/route"].map((path) => ({
  method: "GET",
  path,
  secured: false,
  queryParameters: [],
  hasJsonBody: false,
}));

/** Strings the new input rules are about: lone surrogates, control characters, bidi overrides, odd hosts. */
const hostileString = fc.constantFrom(
  "\uD800",
  "a\uDC00b",
  "\uDBFF",
  "\u0001",
  "a\u0007b",
  "tab\there",
  "line\nbreak",
  "\u001B[31mred",
  "\u007F",
  "\u0085",
  "\u202Eevil",
  "\u200B",
  "\uFEFFbom",
  "\u0000",
  "é",
  "ｈａｎｓ",
  "x".repeat(65),
  "x".repeat(5000),
);

/** Strings every field must refuse with 400: lone surrogates, NUL and other control characters (usernames never hold them). */
const MALFORMED_STRINGS = [
  "\uD800",
  "a\uDC00b",
  "\uDBFF",
  "\u0000",
  "\u0001",
  "a\u0007b",
  "line\nbreak",
  "\u001B[31m",
  "\u007F",
  "\u0085",
];
const LONE_SURROGATES = ["\uD800", "a\uDC00b", "\uDBFF"];
/** Of those, the ones a message text must refuse too (a text may hold line breaks, tabs and the like). */
const MALFORMED_TEXTS = [...LONE_SURROGATES, "\u0000"];

const hostileHost = fc.constantFrom(
  "example.com",
  "localhost",
  "127.0.0.1",
  "::1",
  "[::1]",
  "999.1.1.1",
  "1.2.3",
  "127.0.0.1 ",
  "127.0.0.1\u0000",
  "fe80::1%eth0",
  "10.0.0.1:22",
  "",
  "0x7f.1",
  "evil.example/../../",
);

/** Path segments the input rules must refuse: encoded lone surrogates, control characters, raw bytes. */
const hostileSegment = fc.constantFrom(
  "%ED%A0%80",
  "a%ED%B0%80b",
  "%01",
  "a%07b",
  "%7F",
  "%1B%5B31m",
  "%E2%80%AEevil",
  "%C2%85",
  "%EF%BB%BFx",
  "\xff",
  "\xc3\xa9",
  "a b",
  "a\tb",
  "%20",
  "%2e%2e%2f%2e%2e",
);

const INTS = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 1, Number.POSITIVE_INFINITY, Number.NaN));

/** JSON documents no route may accept, or that test the parser itself. */
const hostileJson = (names: string[], loginNames: string[]) =>
  fc.oneof(
    fc.integer({ min: 1, max: 40_000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
    fc.integer({ min: 1, max: 20_000 }).map((depth) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth)),
    fc
      .record({ to: fc.oneof(fc.constantFrom(...names), hostileString), text: fc.oneof(hostileString, fc.constant("hi")) })
      .map((body) => JSON.stringify(body)),
    fc.record({ text: hostileString }).map((body) => JSON.stringify(body)),
    fc
      .record({
        username: fc.oneof(fc.constantFrom(...loginNames), hostileString),
        password: fc.oneof(hostileString, anyString(20)),
        p2pPort: fc.oneof(INTS, anyString(6)),
        p2pHost: fc.oneof(hostileHost, hostileString, notAString),
      })
      .map((body) => JSON.stringify(body)),
    fc.constantFrom(
      '{"to":"a","to":"b","text":"hi"}',
      '{"__proto__":{"isAdmin":true},"text":"hi"}',
      '{"constructor":{"prototype":{"polluted":1}},"text":"hi"}',
      '{"text":"hi"}\u0000',
      "\uFEFF{}",
      '{"text":"\\ud800"}',
      '{"text":"\\udfff\\ud800"}',
      '{"to":"\\ud800","text":"hi"}',
      '{"username":"\\ud800","password":"x"}',
      '{"text":1e400}',
      '{"text":"a","text":{"nested":true}}',
      "null",
      "0",
      '""',
    ),
  );

/** Raw bytes no JSON parser should take as text: invalid UTF-8 (an encoded lone surrogate), overlong forms, NUL. */
const invalidUtf8Body = (names: string[]) =>
  fc
    .tuple(fc.constantFrom(...names), fc.constantFrom([0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff], [0x00], [0xf4, 0x90, 0x80, 0x80]))
    .map(([to, bytes]) => Buffer.concat([Buffer.from(`{"to":"${to}","text":"a`), Buffer.from(bytes), Buffer.from('b"}')]));

const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 40, arbitrary: fc.constant<Framing>("content-length") },
  {
    weight: 6,
    arbitrary: fc.constantFrom<Framing>(
      "chunked",
      "bad-chunk-size",
      "length-over-body",
      "length-under-body",
      "length-and-chunked",
      "length-not-a-number",
      "two-lengths",
      "other-transfer-encoding",
      "no-length",
    ),
  },
);

const headerValue = fc.oneof(
  { weight: 4, arbitrary: anyString(40) },
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(9000), "a\u0000b", "v\r\nX-Injected: 1", "\u00ff\u00fe") },
);

/** Headers the service reads, with values of every kind; sent as their UTF-8 bytes. */
const extraHeaders = fc.record(
  {
    "Content-Type": contentType,
    "Last-Event-ID": fc.oneof(queryValue, anyString(30), fc.constantFrom("0", "1", "-1", "999999999999", "1e3")),
    "Idempotency-Key": fc.oneof(fc.uuid(), anyString(30), fc.constantFrom("same-key", "x".repeat(201), "with space", "ключ")),
    "X-Request-Id": fc.oneof(fc.uuid(), headerValue, fc.constant("r".repeat(300))),
    Accept: fc.oneof(fc.constantFrom("text/event-stream", "application/xml", "*/*", "application/json"), anyString(20)),
    Origin: fc.constantFrom("https://evil.example", "null", "http://127.0.0.1"),
    "X-Forwarded-For": fc.constantFrom("1.2.3.4", "::1, 10.0.0.1", "garbage"),
    "X-Fuzz": headerValue,
  },
  { requiredKeys: [] },
);

const withoutUndefined = (headers: Record<string, string | undefined>): [string, string][] =>
  Object.entries(headers)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => [name, Buffer.from(value).toString("latin1")]);

function probePath(operation: Operation, names: string[]): fc.Arbitrary<{ path: string; ownPath: boolean }> {
  const own = (value: fc.Arbitrary<string>) => value.map((filled) => ({ path: fillPath(operation.path, filled), ownPath: true }));
  const other = (value: fc.Arbitrary<string>) => value.map((path) => ({ path, ownPath: false }));
  const named = fillPath(operation.path, names[0]!);
  return fc.oneof(
    { weight: 6, arbitrary: own(fc.constantFrom(...names, "nobody")) },
    { weight: 4, arbitrary: own(fc.oneof(pathSegment, hostileSegment)) },
    { weight: 1, arbitrary: other(fc.oneof(pathSegment, hostileSegment).map((segment) => `${named}/${segment}`)) },
    {
      weight: 1,
      arbitrary: other(
        fc.constantFrom(
          `${named}/`,
          `/${named}`,
          `${named}/..`,
          `/x/..${named}`,
          `/%2e%2e${named}`,
          `${named}%2F`,
          `${named};a=b`,
        ),
      ),
    },
    { weight: 1, arbitrary: other(fc.constantFrom("/" + "a".repeat(20_000), `${named}/${"b".repeat(8000)}`, "*", "//")) },
    {
      weight: 1,
      arbitrary: other(
        fc.array(fc.oneof(pathSegment, hostileSegment), { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join("/")}`),
      ),
    },
  );
}

function probeQuery(operation: Operation, names: string[]): fc.Arbitrary<string> {
  const parameter = fc.oneof(
    fc.constantFrom(...operation.queryParameters, "with", "before", "limit", "since", "lastEventId", "access_token"),
    pathSegment,
  );
  const value = fc.oneof(queryValue, hostileSegment, fc.constantFrom(...names));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant("") },
    {
      weight: 3,
      arbitrary: fc
        .array(fc.tuple(parameter, value), { minLength: 1, maxLength: 4 })
        .map((pairs) => `?${pairs.map(([name, filled]) => `${name}=${filled}`).join("&")}`),
    },
    { weight: 1, arbitrary: fc.constantFrom("?", "?&&", "?=", "?with", "?before=&before=1", `?${"q=1&".repeat(2000)}`) },
  );
}

function probeBody(operation: Operation, cast: Cast): fc.Arbitrary<Buffer | undefined> {
  const names = [...cast.actors, ...cast.victims, cast.offline];
  // Logins name the victims: wrong passwords or spent login budgets for an actor would stop it logging in again.
  const loginNames = [...cast.victims, cast.offline];
  if (operation.hasJsonBody) {
    const bodyNames = fc.record({
      self: fc.constantFrom(...cast.actors),
      other: fc.constantFrom(...cast.actors, cast.offline),
      victim: fc.constantFrom(...cast.victims),
    });
    return fc.oneof(
      {
        weight: 6,
        arbitrary: bodyNames.chain((picked) =>
          jsonBody(operation, { ...picked, victimPassword: cast.passwords[picked.victim]! }).map((text) => Buffer.from(text)),
        ),
      },
      { weight: 3, arbitrary: hostileJson(names, loginNames).map((text) => Buffer.from(text)) },
      { weight: 1, arbitrary: invalidUtf8Body(names) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  }
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: anyString(100).map((text) => Buffer.from(text)) },
    { weight: 1, arbitrary: hostileJson(names, loginNames).map((text) => Buffer.from(text)) },
  );
}

function probeAuth(material: TokenMaterial, actors: number): fc.Arbitrary<Auth> {
  return fc.oneof(
    {
      weight: 9,
      arbitrary: fc.record({
        kind: fc.constant("live" as const),
        actor: fc.integer({ min: 0, max: actors - 1 }),
        placement: fc.oneof({ weight: 9, arbitrary: fc.constant("header" as const) }, fc.constant("query" as const)),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("bad" as const),
        token: badTokens(material),
        placement: fc.constantFrom("header" as const, "query" as const),
        format: authorizationFormat,
      }),
    },
    { weight: 5, arbitrary: fc.constant({ kind: "none" as const }) },
  );
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get"];

/** Characters Node's HTTP parser refuses in a request-target, percent-encoded byte by byte. */
const wellFormedTarget = (target: string) =>
  target.replace(/[^\x21-\x7e]/g, (character) => `%${character.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);

/** Header values without the control characters Node's HTTP parser refuses. */
// eslint-disable-next-line no-control-regex -- these are the characters being removed
const wellFormedValue = (value: string) => value.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "");

/** What a probe gets wrong: one part of an otherwise good request (so the wrong part reaches deep code), or all of them. */
const wrongPart = fc.oneof(
  { weight: 30, arbitrary: fc.constant("body" as const) },
  { weight: 12, arbitrary: fc.constant("path" as const) },
  { weight: 10, arbitrary: fc.constant("query" as const) },
  { weight: 15, arbitrary: fc.constant("auth" as const) },
  { weight: 10, arbitrary: fc.constant("headers" as const) },
  { weight: 5, arbitrary: fc.constant("method" as const) },
  { weight: 5, arbitrary: fc.constant("framing" as const) },
  { weight: 15, arbitrary: fc.constant("string" as const) },
  { weight: 13, arbitrary: fc.constant("everything" as const) },
);

/** One string of a good request replaced: a body field, the path parameter or a query value. */
function wrongString(
  operation: Operation,
  names: { name: string; to: string; field: number },
  value: string,
): { path: string; query: string; body?: Buffer; expect400: boolean } {
  const { name, to } = names;
  const malformed = MALFORMED_STRINGS.includes(value);
  const encoded = encodeQueryValueExact(value);
  if (operation.hasJsonBody) {
    const body = JSON.parse(goodBody(operation, to)!.toString()) as Record<string, unknown>;
    const fields = Object.keys(body);
    const field = fields[names.field % fields.length]!;
    body[field] = value;
    const isText = field === "text";
    const isPassword = field === "password";
    return {
      path: operation.path,
      query: "",
      body: Buffer.from(JSON.stringify(body)),
      // A password may hold any well-formed string; a text no NUL either; a name none of the malformed ones.
      expect400: isPassword ? LONE_SURROGATES.includes(value) : isText ? MALFORMED_TEXTS.includes(value) : malformed,
    };
  }
  if (operation.path.includes("{")) return { path: fillPath(operation.path, encoded), query: "", expect400: malformed };
  const parameter = operation.queryParameters.find((candidate) => candidate !== "access_token");
  if (parameter === "with") return { path: operation.path, query: `?with=${encoded}`, expect400: malformed };
  return { path: fillPath(operation.path, name), query: parameter ? `?${parameter}=${encoded}` : "", expect400: false };
}

/** Percent-encodes every UTF-16 unit, so a lone surrogate becomes the (invalid UTF-8) bytes of its code unit. */
const encodeQueryValueExact = (value: string) =>
  [...value]
    .map((character) => {
      const code = character.codePointAt(0)!;
      if (code >= 0xd800 && code <= 0xdfff) {
        return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
          .map((byte) => `%${byte.toString(16).toUpperCase()}`)
          .join("");
      }
      return encodeURIComponent(character);
    })
    .join("");

/** The good request a probe starts from; a login names no user, so its refusal counts toward no lockout. */
function goodBody(operation: Operation, to: string): Buffer | undefined {
  if (!operation.hasJsonBody) return undefined;
  if (operation.path === "/login") return Buffer.from(JSON.stringify({ username: "nobody", password: "wrong" }));
  return Buffer.from(
    JSON.stringify(operation.path === "/messages" ? { to, text: "fuzz-text-probe" } : { text: "fuzz-text-probe" }),
  );
}

/** A request made to be refused: one part of it wrong, or every part. */
function probe(operation: Operation, cast: Cast, material: TokenMaterial): fc.Arbitrary<FuzzRequest> {
  const names = [...cast.actors, ...cast.victims, cast.offline];
  return fc
    .record({
      wrong: wrongPart,
      actor: fc.integer({ min: 0, max: cast.actors.length - 1 }),
      name: fc.constantFrom(...cast.actors),
      method: fc.oneof({ weight: 3, arbitrary: fc.constant(operation.method) }, fc.constantFrom(...METHODS)),
      where: probePath(operation, names),
      query: probeQuery(operation, names),
      auth: probeAuth(material, cast.actors.length),
      badAuth: probeAuth(material, cast.actors.length).filter((auth) => auth.kind !== "live"),
      badString: fc.oneof(fc.constantFrom(...MALFORMED_STRINGS), hostileString),
      to: fc.constantFrom(...cast.actors, cast.offline),
      field: fc.nat(),
      headers: extraHeaders,
      body: probeBody(operation, cast),
      framing,
      streamHoldMs: fc.integer({ min: 0, max: 150 }),
      // Most requests are well-formed HTTP, so they reach the app; the rest test Node's parser in front of it.
      wellFormedWire: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, fc.constant(false)),
    })
    .map((parts) => {
      const { wrong, actor, name, streamHoldMs } = parts;
      const string =
        wrong === "string" ? wrongString(operation, { name, to: parts.to, field: parts.field }, parts.badString) : undefined;
      const fuzzed = (part: typeof wrong) => wrong === part || wrong === "everything";
      const wellFormedWire = parts.wellFormedWire || !["path", "query", "headers", "method", "everything"].includes(wrong);
      const method = fuzzed("method") ? parts.method : operation.method;
      const headers: [string, string][] = fuzzed("headers")
        ? withoutUndefined(parts.headers)
        : operation.hasJsonBody
          ? [["Content-Type", "application/json"]]
          : [];
      // A change that leaves the request valid may well succeed: such requests go with the traffic, not between refusals.
      const mayChangeState =
        !["GET", "HEAD", "OPTIONS"].includes(operation.method) && ["query", "headers", "framing"].includes(wrong);
      return {
        label: `${operation.method} ${operation.path}`,
        intent: mayChangeState ? ("traffic" as const) : ("probe" as const),
        ownPath: fuzzed("path") ? parts.where.ownPath : true,
        secured: operation.secured,
        method: wellFormedWire && !/^[A-Z]+$/.test(method) ? operation.method : method,
        path: string
          ? string.path
          : fuzzed("path")
            ? wellFormedWire
              ? wellFormedTarget(parts.where.path)
              : parts.where.path
            : fillPath(operation.path, name),
        query: string ? string.query : fuzzed("query") ? (wellFormedWire ? wellFormedTarget(parts.query) : parts.query) : "",
        auth:
          wrong === "auth"
            ? parts.badAuth
            : wrong === "everything"
              ? parts.auth
              : operation.secured
                ? { kind: "live" as const, actor, placement: "header" as const }
                : { kind: "none" as const },
        headers: headers.map(([header, value]): [string, string] => [header, wellFormedWire ? wellFormedValue(value) : value]),
        body: string?.body ?? (fuzzed("body") ? parts.body : goodBody(operation, parts.to)),
        expectValidationError: string?.expect400,
        framing: fuzzed("framing") ? parts.framing : "content-length",
        streamHoldMs,
      };
    });
}

const JSON_TYPE: [string, string][] = [["Content-Type", "application/json"]];

/** Well-formed use by the actors: what fills the database with state the probes then try to disturb. */
function traffic(cast: Cast): fc.Arbitrary<FuzzRequest> {
  const count = cast.actors.length;
  const pair = fc
    .tuple(fc.integer({ min: 0, max: count - 1 }), fc.integer({ min: 1, max: count - 1 }))
    .map(([from, step]) => ({ from, to: (from + step) % count }));
  const live = (actor: number, placement: "header" | "query" = "header"): Auth => ({ kind: "live", actor, placement });
  const base = {
    intent: "traffic" as const,
    ownPath: true,
    secured: true,
    query: "",
    framing: "content-length" as const,
    streamHoldMs: 0,
  };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const text = fc.integer({ min: 0, max: 1e9 }).map((n) => `fuzz-text-${n}`);
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(pair, text, fc.option(fc.constantFrom("k1", "k2", "k3"), { nil: undefined }), fc.boolean())
        .map(([{ from, to }, words, key, toOffline]) => ({
          ...base,
          label: "POST /messages",
          method: "POST",
          path: "/messages",
          auth: live(from),
          headers: key ? [...JSON_TYPE, ["Idempotency-Key", `${key}-${from}`] as [string, string]] : JSON_TYPE,
          body: json({ to: toOffline ? cast.offline : cast.actors[to], text: key ? `fuzz-text-${key}` : words }),
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: count - 1 }), text).map(([from, words]) => ({
        ...base,
        label: "POST /broadcasts",
        method: "POST",
        path: "/broadcasts",
        auth: live(from),
        headers: JSON_TYPE,
        body: json({ text: words }),
      })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          pair,
          fc.constantFrom(
            ["PUT", "/blocks/{username}"],
            ["DELETE", "/blocks/{username}"],
            ["POST", "/private/{username}"],
            ["DELETE", "/private/{username}"],
          ),
        )
        .map(([{ from, to }, [method, template]]) => ({
          ...base,
          label: `${method} ${template}`,
          method,
          path: fillPath(template, cast.actors[to]!),
          auth: live(from),
          headers: [],
          body: undefined,
        })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          pair,
          fc.constantFrom("/users/online", "/users/online?since=60", "/blocks", "/private", "/messages?with={username}&limit=5"),
        )
        .map(([{ from, to }, target]) => {
          const [path, query] = fillPath(target, cast.actors[to]!).split("?");
          return {
            ...base,
            label: `GET ${path}`,
            method: "GET",
            path: path!,
            query: query ? `?${query}` : "",
            auth: live(from),
            headers: [],
            body: undefined,
          };
        }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 0, max: count - 1 }),
          fc.constantFrom("header" as const, "query" as const),
          fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
          fc.integer({ min: 0, max: 300 }),
        )
        .map(([actor, placement, lastEventId, hold]) => ({
          ...base,
          label: "GET /events",
          method: "GET",
          path: "/events",
          auth: live(actor, placement),
          headers: lastEventId === undefined ? [] : [["Last-Event-ID", String(lastEventId)] as [string, string]],
          body: undefined,
          streamHoldMs: hold,
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...cast.victims), anyString(12)).map(([victim, password]) => ({
        ...base,
        label: "POST /login",
        secured: false,
        method: "POST",
        path: "/login",
        auth: { kind: "none" as const },
        headers: JSON_TYPE,
        body: json({ username: victim, password: `${password}-wrong` }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: count - 1 }).map((actor) => ({
        ...base,
        label: "POST /logout",
        method: "POST",
        path: "/logout",
        auth: live(actor),
        headers: [],
        body: undefined,
        effect: { kind: "logout" as const, actor },
      })),
    },
  );
}

/** An actor's login, as the campaign sends it at the start and after each logout. */
export function loginRequest(cast: Cast, actor: number): FuzzRequest {
  const username = cast.actors[actor]!;
  return {
    label: "POST /login",
    intent: "traffic",
    ownPath: true,
    secured: false,
    method: "POST",
    path: "/login",
    query: "",
    auth: { kind: "none" },
    headers: JSON_TYPE,
    body: Buffer.from(JSON.stringify({ username, password: cast.passwords[username], p2pPort: 40_000 + actor })),
    framing: "content-length",
    streamHoldMs: 0,
    effect: { kind: "login", actor },
  };
}

/** The campaign's stream of requests: mostly probes of every operation, some well-formed traffic. */
export function fuzzRequests(operations: Operation[], cast: Cast, material: TokenMaterial): fc.Arbitrary<FuzzRequest> {
  const probes = [...operations, ...EXTRA_OPERATIONS].map((operation) => probe(operation, cast, material));
  return fc.oneof({ weight: 9, arbitrary: fc.oneof(...probes) }, { weight: 1, arbitrary: traffic(cast) });
}
