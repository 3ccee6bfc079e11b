import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { inject } from "vitest";
import { openPostgres, wrapPglite, type DatabaseHandle } from "../../src/db/client.js";

/** A fresh, migrated database of the kind this run tests (PGlite, or PostgreSQL when DATABASE_URL is set). */
export async function openTestDatabase(): Promise<DatabaseHandle & { url?: string }> {
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
  const dump = await readFile(inject("pgliteTemplate"));
  const client = await PGlite.create({ loadDataDir: new Blob([dump]) });
  return wrapPglite(client, "PGlite test database");
}
