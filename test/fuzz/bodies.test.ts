import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body-limit.js";
import { createTestChat, passwordOf, type TestChat } from "../support/chat.js";
import {
  anyString,
  expectClientProblem,
  isHeaderValue,
  NUM_RUNS,
  operationsOf,
  PROPERTY_TIMEOUT_MS,
  stateCounts,
  type Operation,
} from "./support.js";

let chat: TestChat;
let withBody: Operation[];
let names: { hans: string; luke: string; vader: string };
let hansToken: string;
beforeAll(async () => {
  chat = await createTestChat();
  withBody = (await operationsOf(chat)).filter((operation) => operation.hasJsonBody);
  names = await chat.users("hans", "luke", "vader");
  hansToken = await chat.login(names.hans);
  await chat.login(names.luke);
});
afterAll(() => chat.close());

const notAString = fc.oneof(
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

/** Bodies shaped almost like the route's, each wrong in at least one way. */
function nearlyValid(operation: Operation): fc.Arbitrary<unknown> {
  if (operation.path === "/messages") {
    return fc.oneof(
      // to: yourself, someone unknown, or not a name at all; text: anything
      fc.record(
        {
          to: fc.oneof(fc.constant(names.hans), anyString(), notAString),
          text: fc.oneof(fc.constant("hi"), badText, anyString(50)),
        },
        { requiredKeys: [] },
      ),
      fc.record({ to: fc.constant(names.luke), text: badText }, { requiredKeys: ["to"] }),
      extraKeys.map((extra) => ({ ...extra, to: names.luke, text: "hi" })).filter((body) => Object.keys(body).length > 2),
    );
  }
  if (operation.path === "/broadcasts") {
    return fc.oneof(
      fc.record({ text: badText }, { requiredKeys: [] }),
      extraKeys.map((extra) => ({ ...extra, text: "hi" })).filter((body) => Object.keys(body).length > 1),
    );
  }
  // login: an unknown username, or vader with a wrong password; ports and hosts of every kind
  return fc.record(
    {
      username: fc.oneof(fc.constant(names.vader), anyString(80), notAString),
      password: fc.oneof(anyString(80), notAString).filter((password) => password !== passwordOf(names.vader)),
      p2pPort: fc.oneof(fc.integer(), fc.double(), anyString(8)),
      p2pHost: fc.oneof(anyString(300), notAString),
    },
    { requiredKeys: ["username", "password"] },
  );
}

/** A body that would be accepted, to cut short or blow past the size limit. */
function acceptable(operation: Operation): Record<string, unknown> {
  if (operation.path === "/messages") return { to: names.luke, text: "hello" };
  if (operation.path === "/broadcasts") return { text: "hello" };
  return { username: names.vader, password: passwordOf(names.vader) };
}

function body(operation: Operation): fc.Arbitrary<string> {
  const valid = JSON.stringify(acceptable(operation));
  return fc.oneof(
    anyString(200),
    fc.jsonValue().map((value) => JSON.stringify(value)),
    { weight: 4, arbitrary: nearlyValid(operation).map((value) => JSON.stringify(value)) },
    fc.integer({ min: 0, max: valid.length - 1 }).map((length) => valid.slice(0, length)),
    fc.constantFrom(`${valid}}`, `[${valid}]`, `${valid}${valid}`, valid.replace(/"/g, "'")),
    fc.constant(JSON.stringify({ ...acceptable(operation), padding: "x".repeat(MAX_BODY_BYTES) })),
  );
}

// Mostly a JSON type, so most bodies get past the media-type gate to validation and the domain.
const contentType = fc.oneof(
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

describe("routes that take a JSON body", () => {
  it("are the ones the contract names", () => {
    const routes = withBody.map((operation) => `${operation.method} ${operation.path}`);
    expect(routes.sort()).toEqual(["POST /broadcasts", "POST /login", "POST /messages"]);
  });

  it(
    "refuse every malformed or wrongly typed body with a 4xx problem and change nothing",
    async () => {
      const request = fc.oneof(
        ...withBody.map((operation) =>
          fc.record({
            operation: fc.constant(operation),
            body: body(operation),
            contentType,
            idempotencyKey: fc.option(fc.oneof(fc.uuid(), anyString(220)), { nil: undefined, freq: 2 }),
            withToken: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, fc.constant(false)),
          }),
        ),
      );
      await fc.assert(
        fc.asyncProperty(request, async ({ operation, body, contentType, idempotencyKey, withToken }) => {
          const headers: Record<string, string> = {};
          if (contentType !== undefined) headers["content-type"] = contentType;
          if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
          fc.pre(Object.values(headers).every(isHeaderValue));
          if (withToken) headers.authorization = `Bearer ${hansToken}`;
          const before = await stateCounts(chat.db);
          const response = await chat.request(operation.method, operation.path, { headers, body });
          const what = `${operation.method} ${operation.path} ${JSON.stringify(headers)} ${JSON.stringify(body.slice(0, 300))}`;
          await expectClientProblem(response, what);
          expect(await stateCounts(chat.db), what).toEqual(before);
        }),
        { numRuns: NUM_RUNS * 3 },
      );

      // The app still answers and still sends.
      expect((await chat.request("GET", "/health")).status).toBe(200);
      const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: names.luke, text: "still here" } });
      expect(sent.status).toBe(201);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
