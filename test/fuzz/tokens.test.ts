import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import {
  authorizationFormat,
  authorizationHeader,
  badTokens,
  encodeQueryValue,
  fillPath,
  isHeaderValue,
  type Operation,
  type TokenMaterial,
} from "./arbitraries.js";
import { expectClientProblem, NUM_RUNS, operationsOf, PROPERTY_TIMEOUT_MS, serverSecret, stateCounts } from "./support.js";

let chat: TestChat;
let secured: Operation[];
let material: TokenMaterial;
let names: { hans: string; luke: string };
beforeAll(async () => {
  chat = await createTestChat();
  secured = (await operationsOf(chat)).filter((operation) => operation.secured);
  const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
  names = { hans, luke };
  const liveToken = await chat.login(hans);
  await chat.login(luke);
  const endedToken = await chat.login(yoda);
  expect((await chat.request("POST", "/logout", { token: endedToken })).status).toBe(204);
  material = { secret: await serverSecret(chat.db), liveToken, liveUser: hans, otherUser: luke, endedToken };
});
afterAll(() => chat.close());

/** A body the route would accept from a good token, so only the token stands between it and a change. */
function acceptableBody(operation: Operation): unknown {
  if (operation.path === "/messages" && operation.method === "POST") return { to: names.luke, text: "forged" };
  if (operation.path === "/broadcasts") return { text: "forged" };
  return undefined;
}

describe("every authenticated route", () => {
  it("covers the whole document", () => {
    expect(secured.map((operation) => `${operation.method} ${operation.path}`)).toEqual(
      expect.arrayContaining(["POST /messages", "POST /broadcasts", "GET /events", "POST /logout", "PUT /blocks/{username}"]),
    );
  });

  it(
    "refuses a bad token with 401 unauthorized and changes nothing",
    async () => {
      const request = fc.record({
        operation: fc.constantFrom(...secured),
        token: badTokens(material),
        placement: fc.constantFrom("header", "query", "none"),
        format: authorizationFormat,
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ operation, token: pendingToken, placement, format }) => {
          const token = await pendingToken;
          const headers: Record<string, string> = {};
          let path = fillPath(operation.path, names.luke);
          if (placement === "header") {
            const value = authorizationHeader(format, token);
            fc.pre(isHeaderValue(value));
            headers.authorization = value;
          } else if (placement === "query") {
            path += `?access_token=${encodeQueryValue(token)}`;
          }
          const body = acceptableBody(operation);
          const before = await stateCounts(chat.db);
          const response = await chat.request(operation.method, path, { headers, json: body });
          const what = `${operation.method} ${path} with ${placement} token ${JSON.stringify(token)}`;
          const problem = await expectClientProblem(response, what);
          expect(response.status, what).toBe(401);
          expect(problem?.code, what).toBe("unauthorized");
          expect(response.headers.get("www-authenticate"), what).toMatch(/^Bearer /);
          expect(await stateCounts(chat.db), what).toEqual(before);
        }),
        { numRuns: NUM_RUNS * 2 },
      );

      // The app still answers, and the real token still works.
      expect((await chat.request("GET", "/health")).status).toBe(200);
      const sent = await chat.request("POST", "/messages", {
        token: material.liveToken,
        json: { to: names.luke, text: "still here" },
      });
      expect(sent.status).toBe(201);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
