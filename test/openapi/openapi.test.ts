import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatOpenApi } from "../../src/openapi-document.js";
import { createTestChat, type TestChat } from "../support/chat.js";

let chat: TestChat;
let served: { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
beforeAll(async () => {
  chat = await createTestChat();
  served = await (await chat.request("GET", "/openapi.json")).json();
});
afterAll(() => chat.close());

describe("the OpenAPI document", () => {
  it("is committed exactly as the app serves it (run `npm run openapi` after changing a route)", async () => {
    const committed = await readFile(new URL("../../openapi/openapi.json", import.meta.url), "utf8");
    expect(committed).toBe(formatOpenApi(served));
  });

  it("declares every route of the contract", () => {
    const operations = Object.entries(served.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        "POST /login",
        "POST /logout",
        "POST /messages",
        "GET /messages",
        "POST /broadcasts",
        "GET /users/online",
        "PUT /blocks/{username}",
        "DELETE /blocks/{username}",
        "GET /blocks",
        "POST /private/{username}",
        "DELETE /private/{username}",
        "GET /private",
        "GET /events",
        "GET /health",
        "GET /ready",
        "GET /metrics",
      ].sort(),
    );
  });

  it("gives every error response of every route the problem+json schema", () => {
    for (const [path, methods] of Object.entries(served.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400) continue;
          expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual(["application/problem+json"]);
        }
      }
    }
  });

  it("serves a docs page that loads the document", async () => {
    const response = await chat.request("GET", "/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const initializer = /<script src="([^"]+\/initializer\.js)"/.exec(await response.text())?.[1];
    expect(initializer).toBeDefined();
    expect(await (await chat.request("GET", initializer!)).text()).toContain('url: "/openapi.json"');
  });
});
