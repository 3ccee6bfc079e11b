import { Writable } from "node:stream";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { drizzle } from "drizzle-orm/postgres-js";
import { wrapPglite, type Database } from "../../src/db/client.js";
import { createLogger } from "../../src/observability/logger.js";

/** Logs `error` as the request log does for a 500 (`err`), in JSON and in the terminal format, and returns both outputs. */
function logged(error: unknown): { json: string; pretty: string } {
  const outputs = { json: "", pretty: "" };
  for (const format of ["json", "pretty"] as const) {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        outputs[format] += chunk.toString();
        done();
      },
    });
    createLogger({ logLevel: "info", destination, pretty: format === "pretty" }).error({ err: error }, "request failed");
  }
  return outputs;
}

const secret = () => `secret-text-${Math.random().toString(36).slice(2)}`;

/** A real failing query whose only parameter is the secret: PostgreSQL quotes the value it cannot cast. */
async function failingQuery(db: Database, text: string): Promise<unknown> {
  return db.execute(sql`select ${text}::int as n`).then(
    () => expect.fail("the query should have failed"),
    (error: unknown) => error,
  );
}

function expectNothingOf(error: unknown, text: string) {
  const { json, pretty } = logged(error);
  for (const output of [json, pretty]) {
    expect(output).not.toContain(text);
    expect(output).not.toMatch(/select|::int/i);
  }
  const line = JSON.parse(json) as { err: { type: string; message: string; stack: string; cause?: { code?: string } } };
  return line.err;
}

describe("the error serializer of the logger", () => {
  it("logs a PGlite error behind drizzle with its SQLSTATE and stack, never its SQL, parameters or the refused value", async () => {
    const handle = await wrapPglite(await PGlite.create(), "PGlite");
    try {
      const text = secret();
      const error = await failingQuery(handle.db, text);
      expect(String((error as Error).message) + String((error as Error).cause)).toContain(text);
      const err = expectNothingOf(error, text);
      expect(err.cause?.code).toBe("22P02");
      expect(err.stack).toMatch(/\n\s+at /);
    } finally {
      await handle.close();
    }
  }, 60_000);

  it("drops a message JSON.parse wrote around the text it could not read", () => {
    // V8 quotes a short input whole.
    const text = `s${Math.random().toString(36).slice(2, 9)}`;
    let error: unknown;
    try {
      JSON.parse(text);
    } catch (thrown) {
      error = thrown;
    }
    expectNothingOf(error, text);
  });
});

const url = process.env.DATABASE_URL;
describe.skipIf(!url)("the error serializer with postgres.js", () => {
  it("logs neither `query` nor `parameters` of a postgres.js error, raw or wrapped by drizzle", async () => {
    const text = secret();
    const raw = postgres(url!, { max: 1, onnotice: () => {} });
    try {
      const rawError = await raw`select ${text}::int as n`.then(
        () => expect.fail("the query should have failed"),
        (error: unknown) => error,
      );
      expect((rawError as { parameters: unknown[] }).parameters).toContain(text);
      expect(expectNothingOf(rawError, text)).toMatchObject({ type: "PostgresError", code: "22P02" });

      // A select and nothing else, so the database named by DATABASE_URL needs no migration and is left as it was.
      const wrapped = await failingQuery(drizzle(raw) as unknown as Database, text);
      expect(expectNothingOf(wrapped, text).cause?.code).toBe("22P02");
    } finally {
      await raw.end();
    }
  }, 60_000);
});
