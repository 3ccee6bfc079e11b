import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { inject } from "vitest";
import { openPostgres, wrapPglite, type DatabaseHandle } from "../../src/db/client.js";

/**
 * A fresh, migrated database of the kind this run tests (PGlite, or PostgreSQL when DATABASE_URL is set).
 * `broken`: the test breaks it (closes it under a running app, deletes its migration records), so a
 * mutation run must not hand it to another test file afterwards.
 */
export async function openTestDatabase(options: { broken?: boolean } = {}): Promise<DatabaseHandle & { url?: string }> {
  const url = process.env.DATABASE_URL;
  const postgresTemplate = inject("postgresTemplate");
  if (url && postgresTemplate) {
    const name = `chat_test_${process.ppid}_${randomBytes(4).toString("hex")}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`create database ${name} template ${postgresTemplate}`);
    } finally {
      await admin.end();
    }
    const databaseUrl = new URL(url);
    databaseUrl.pathname = `/${name}`;
    const handle = await openPostgres(databaseUrl.toString(), { max: 10 });
    return {
      ...handle,
      url: databaseUrl.toString(),
      async close() {
        await handle.close();
        const dropper = postgres(url, { max: 1, onnotice: () => {} });
        await dropper.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
        await dropper.end();
      },
    };
  }
  if (process.env.CHAT_TEST_REUSE_PGLITE && !options.broken) return reusedPglite();
  return wrapPglite(await loadTemplate(), "PGlite test database");
}

async function loadTemplate(): Promise<PGlite> {
  const dump = await readFile(inject("pgliteTemplate"));
  return PGlite.create({ loadDataDir: new Blob([dump]) });
}

/** PGlite instances closed by their test file and emptied for the next one (mutation runs only). */
const idle: PGlite[] = [];

/**
 * Mutation testing (vitest.stryker.config.ts) runs each mutant's test files one after another in one
 * worker, and loading a PGlite data directory costs seconds: more than most tests. There a test
 * file's database is a PGlite instance another file has finished with, emptied (every table
 * truncated, ids restarted): the same migrated, empty database, in milliseconds. Two databases
 * open at once are still two instances.
 */
async function reusedPglite(): Promise<DatabaseHandle> {
  let client = idle.pop();
  while (client?.closed) client = idle.pop();
  if (client) {
    const { rows } = await client.query<{ name: string }>(
      "select quote_ident(tablename) as name from pg_tables where schemaname = 'public'",
    );
    await client.exec(`truncate ${rows.map((row) => row.name).join(", ")} restart identity cascade`);
  } else {
    client = await loadTemplate();
  }
  const handle = await wrapPglite(client, "PGlite test database");
  const reused = client;
  return {
    ...handle,
    async close() {
      if (!reused.closed) idle.push(reused);
    },
  };
}
