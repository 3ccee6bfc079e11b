import { eq, sql } from "drizzle-orm";
import { expect } from "vitest";
import { queryRows, type Database } from "../../src/db/client.js";
import { settings } from "../../src/db/schema.js";
import { problemStatus } from "../../src/http/problem.js";
import type { TestChat } from "../support/chat.js";
import { operationsIn, type Operation } from "./arbitraries.js";

/** Runs per property: enough to reach the odd corners, few enough for < 60 s on two busy cores. */
export const NUM_RUNS = 100;
/** A property's time limit: well above its usual 10-20 s, for machines busier than that. */
export const PROPERTY_TIMEOUT_MS = 120_000;

/** Every operation the app declares in its own OpenAPI document. */
export async function operationsOf(chat: TestChat): Promise<Operation[]> {
  return operationsIn(await (await chat.request("GET", "/openapi.json")).json());
}

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

/** The server's signing secret, read where loadSigningSecret keeps it, to forge otherwise perfect tokens. */
export async function serverSecret(db: Database): Promise<Uint8Array> {
  const [row] = await db.select().from(settings).where(eq(settings.key, "jwt_secret"));
  if (!row) throw new Error("no jwt_secret setting");
  return new TextEncoder().encode(row.value);
}
