import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { createObservability } from "../../src/observability/telemetry.js";
import { createChatContext } from "../../src/server.js";
import { expectProblem } from "../support/http.js";
import { createTestChat, testConfig, type TestChat } from "../support/chat.js";
import { openTestDatabase } from "../support/database.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

/** An app over a database of its own, which the test may then break. */
async function appOverOwnDatabase() {
  const database = await openTestDatabase({ broken: true });
  // Silent: once the test closes the database, the sweeper's failures are expected.
  const domain = await createChatContext(
    database,
    testConfig(),
    createObservability({ logLevel: "silent", processMetrics: false }),
  );
  const app = createApp(domain.context);
  return {
    app,
    database,
    async close() {
      await domain.stop();
      await database.close().catch(() => {});
    },
  };
}

describe("GET /health", () => {
  it("answers while the process runs, without a token", async () => {
    const response = await chat.request("GET", "/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});

describe("GET /ready", () => {
  it("is ready when the database answers and every migration is applied", async () => {
    const response = await chat.request("GET", "/ready");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      fanOut: { kind: process.env.DATABASE_URL ? "postgres" : "single-instance", connected: true },
    });
  });

  it("answers 503 problem+json when the migrations are not applied", async () => {
    const own = await appOverOwnDatabase();
    try {
      await own.database.db.execute(sql`delete from drizzle.__drizzle_migrations`);
      const response = await own.app.request("/ready");
      const problem = await expectProblem(response, 503, "service_unavailable");
      expect(problem.detail).toMatch(/migrations/);
      expect(response.headers.get("x-request-id")).toBe(problem.requestId);
      expect((await own.app.request("/health")).status).toBe(200);
    } finally {
      await own.close();
    }
  });

  it("answers 503 problem+json when the database does not answer", async () => {
    const own = await appOverOwnDatabase();
    try {
      await own.database.close();
      const response = await own.app.request("/ready");
      const problem = await expectProblem(response, 503, "service_unavailable");
      expect(problem.detail).toMatch(/does not answer/);
      expect((await own.app.request("/health")).status).toBe(200);
    } finally {
      await own.close();
    }
  });
});
