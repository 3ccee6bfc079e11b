import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { migrationsFolder, queryRows, sqlState, type Database } from "./client.js";

export type DatabaseStatus = { ready: true } | { ready: false; reason: string; error?: unknown };

const READY_TIMEOUT_MS = 2000;

let latestMigration: Promise<number> | undefined;

/** When the newest migration in drizzle/ was generated (drizzle records it as the applied row's created_at). */
function latestMigrationMillis(): Promise<number> {
  latestMigration ??= readFile(join(migrationsFolder, "meta", "_journal.json"), "utf8").then((text) => {
    const journal = JSON.parse(text) as { entries: { when: number }[] };
    return Math.max(0, ...journal.entries.map((entry) => entry.when));
  });
  return latestMigration;
}

/** Whether the database answers (within 2 s) and has every migration in drizzle/ applied. */
export async function checkDatabase(db: Database): Promise<DatabaseStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DatabaseStatus>((resolve) => {
    timer = setTimeout(
      () => resolve({ ready: false, reason: `the database did not answer within ${READY_TIMEOUT_MS} ms` }),
      READY_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([readMigrationState(db), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readMigrationState(db: Database): Promise<DatabaseStatus> {
  let applied: number;
  try {
    const [row] = await queryRows<{ latest: string | number | null }>(
      db,
      sql`select max(created_at) as latest from drizzle.__drizzle_migrations`,
    );
    applied = Number(row?.latest ?? 0);
  } catch (error) {
    // 42P01/3F000: no migrations table or schema, so nothing was ever applied here.
    const state = sqlState(error);
    if (state === "42P01" || state === "3F000") return { ready: false, reason: "the database migrations are not applied" };
    return { ready: false, reason: "the database does not answer", error };
  }
  if (applied < (await latestMigrationMillis())) return { ready: false, reason: "the database migrations are not all applied" };
  return { ready: true };
}

/**
 * Connections of this process's pool busy with a query or transaction, as PostgreSQL sees them
 * (the pool names its connections; the one asking is left out). Always 0 on the embedded PGlite,
 * which is one in-process connection.
 */
export async function connectionsInUse(db: Database): Promise<number> {
  const [row] = await queryRows<{ inUse: number }>(
    db,
    sql`select count(*)::int as "inUse" from pg_stat_activity
        where datname = current_database() and application_name = current_setting('application_name')
          and state <> 'idle' and pid <> pg_backend_pid()`,
  );
  return row?.inUse ?? 0;
}
