import postgres from "postgres";

/** A database made for one scenario, so no state leaks between scenarios or runs. */
export type ScratchDatabase = { name: string; url: string; drop(): Promise<void> };

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Creates `name` on the server `adminUrl` points at (any database there will do to connect). */
export async function createScratchDatabase(adminUrl: string, name: string): Promise<ScratchDatabase> {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    async drop() {
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await dropper.end({ timeout: 5 });
      }
    },
  };
}

export async function describePostgres(url: string): Promise<string> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await client<{ version: string }[]>`select version()`;
    const parsed = new URL(url);
    return `${row?.version.split(" on ")[0] ?? "PostgreSQL"} at ${parsed.hostname}:${parsed.port || 5432}`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

/** Runs `fn` with a short-lived client on `url`. */
export async function withClient<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const client = postgres(url, { max: 2, onnotice: () => {} });
  try {
    return await fn(client);
  } finally {
    await client.end({ timeout: 5 });
  }
}

export type DatabaseActivity = {
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
  returned: number;
  fetched: number;
};

/**
 * Counters from pg_stat_database for one database. PostgreSQL publishes a backend's
 * counts up to a second late, so read after the traffic has been idle for a moment.
 */
export async function readDatabaseActivity(url: string): Promise<DatabaseActivity> {
  const name = new URL(url).pathname.slice(1);
  return withClient(url, async (sql) => {
    const [row] = await sql<
      { commits: string; rollbacks: string; inserted: string; updated: string; returned: string; fetched: string }[]
    >`
      select xact_commit as commits, xact_rollback as rollbacks, tup_inserted as inserted, tup_updated as updated,
             tup_returned as returned, tup_fetched as fetched
      from pg_stat_database where datname = ${name}`;
    return {
      commits: Number(row?.commits ?? 0),
      rollbacks: Number(row?.rollbacks ?? 0),
      inserted: Number(row?.inserted ?? 0),
      updated: Number(row?.updated ?? 0),
      returned: Number(row?.returned ?? 0),
      fetched: Number(row?.fetched ?? 0),
    };
  });
}
