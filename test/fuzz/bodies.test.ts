import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, passwordOf, type TestChat } from "../support/chat.js";
import { anyString, contentType, isHeaderValue, jsonBody, type BodyNames, type Operation } from "./arbitraries.js";
import { expectClientProblem, NUM_RUNS, operationsOf, PROPERTY_TIMEOUT_MS, stateCounts } from "./support.js";

let chat: TestChat;
let withBody: Operation[];
let names: BodyNames;
let hansToken: string;
beforeAll(async () => {
  chat = await createTestChat();
  withBody = (await operationsOf(chat)).filter((operation) => operation.hasJsonBody);
  const { hans, luke, vader } = await chat.users("hans", "luke", "vader");
  names = { self: hans, other: luke, victim: vader, victimPassword: passwordOf(vader) };
  hansToken = await chat.login(hans);
  await chat.login(luke);
});
afterAll(() => chat.close());

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
            body: jsonBody(operation, names),
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
      const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: names.other, text: "still here" } });
      expect(sent.status).toBe(201);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
