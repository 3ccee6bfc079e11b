import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { anyString, fillPath, isHeaderValue, pathSegment, queryValue, type Operation } from "./arbitraries.js";
import { discard, expectClientProblem, NUM_RUNS, operationsOf, PROPERTY_TIMEOUT_MS, stateCounts } from "./support.js";

let chat: TestChat;
let operations: Operation[];
let names: { hans: string; luke: string };
let hansToken: string;
beforeAll(async () => {
  chat = await createTestChat();
  operations = await operationsOf(chat);
  names = await chat.users("hans", "luke");
  hansToken = await chat.login(names.hans);
  await chat.login(names.luke);
});
afterAll(() => chat.close());

function pathFor(operation: Operation): fc.Arbitrary<string> {
  const query = fc.oneof(
    fc.constant(""),
    fc
      .array(fc.tuple(fc.oneof(fc.constantFrom(...operation.queryParameters, "limit", "since"), pathSegment), queryValue), {
        maxLength: 4,
      })
      .map((pairs) => `?${pairs.map(([name, value]) => `${name}=${value}`).join("&")}`),
    fc.constantFrom("?", "?&&", "?=", "?with", "?before=&before=1"),
  );
  const path = fc.oneof(
    { weight: 4, arbitrary: pathSegment.map((value) => fillPath(operation.path, value)) },
    { weight: 1, arbitrary: fc.array(pathSegment, { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join("/")}`) },
    { weight: 1, arbitrary: pathSegment.map((value) => `${fillPath(operation.path, names.luke)}/${value}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(`${fillPath(operation.path, names.luke)}/`, `/${fillPath(operation.path, names.luke)}`),
    },
  );
  return fc.tuple(path, query).map(([pathPart, queryPart]) => pathPart + queryPart);
}

const method = (operation: Operation) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(operation.method) },
    fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
  );

const authorization = fc.oneof(
  { weight: 3, arbitrary: fc.constant("good") },
  fc.constant(undefined),
  anyString(60).map((token) => `Bearer ${token}`),
);

const extraHeaders = fc.record(
  {
    "content-type": fc.oneof(
      fc.constantFrom("application/json", "text/plain", "application/json; charset=latin1"),
      anyString(30),
    ),
    "last-event-id": fc.oneof(queryValue, anyString(30)),
    "idempotency-key": anyString(30),
    accept: fc.oneof(fc.constantFrom("text/event-stream", "application/xml", "*/*"), anyString(20)),
  },
  { requiredKeys: [] },
);

describe("any request to any route", () => {
  it(
    "gets a 4xx problem+json or a success, never a 5xx, and a refused one changes nothing",
    async () => {
      const request = fc.oneof(
        ...operations.map((operation) =>
          fc.record({
            method: method(operation),
            path: pathFor(operation),
            authorization,
            headers: extraHeaders,
            body: fc.option(anyString(100), { nil: undefined }),
          }),
        ),
      );
      await fc.assert(
        fc.asyncProperty(request, async ({ method, path, authorization, headers, body }) => {
          const sent: Record<string, string> = { ...headers };
          if (authorization === "good") sent.authorization = `Bearer ${hansToken}`;
          else if (authorization !== undefined) sent.authorization = authorization;
          fc.pre(Object.values(sent).every(isHeaderValue));
          // Logging out with the good token is a success that changes state; every other route either refuses or only reads.
          fc.pre(!(authorization === "good" && method === "POST" && path.includes("logout")));
          const before = await stateCounts(chat.db);
          const response = await chat.request(method, path, {
            headers: sent,
            body: method === "GET" || method === "HEAD" ? undefined : body,
          });
          const what = `${method} ${path} ${JSON.stringify(sent)} ${JSON.stringify(body)}`;
          expect(response.status, what).toBeLessThan(500);
          if (response.status >= 400) await expectClientProblem(response, what);
          else await discard(response);
          expect(await stateCounts(chat.db), what).toEqual(before);
        }),
        { numRuns: NUM_RUNS * 3 },
      );

      expect((await chat.request("GET", "/health")).status).toBe(200);
      const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: names.luke, text: "still here" } });
      expect(sent.status).toBe(201);
      const online = await chat.request("GET", "/users/online", { token: hansToken });
      expect(await online.json()).toEqual({ users: [names.luke] });
    },
    PROPERTY_TIMEOUT_MS,
  );
});
