import postgres from "postgres";

/** One md5 per table of the service's schema, over all its rows in a fixed order. */
export type StateDigest = Record<string, string>;

/**
 * Columns left out. last_activity_at: any authenticated request is activity, refused or not, by the
 * contract. delivered_event_id: the delivery cursor, saved in the background every few hundred
 * milliseconds after a successful stream open, so its write is not tied to one request.
 */
const IGNORED_COLUMNS = ["last_activity_at", "delivered_event_id"];

/**
 * Reads the digest of every table in the database's public schema (so tables added later are
 * covered too) with one query on a connection of our own, not the server's.
 */
export async function openStateDigest(databaseUrl: string) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const tables = (
    await sql<{ name: string }[]>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`
  ).map((row) => row.name);
  if (tables.length === 0) throw new Error("no tables to digest: has the server migrated the database?");
  const perTable = tables.map(
    (table) => sql`
      select ${table} as name, md5(coalesce(string_agg(row, E'\n' order by row), '')) as digest
      from (select (to_jsonb(t) - ${IGNORED_COLUMNS}::text[])::text as row from ${sql(table)} t) rows`,
  );
  const query = perTable.slice(1).reduce((union, next) => sql`${union} union all ${next}`, perTable[0]!);
  return {
    tables,
    async read(): Promise<StateDigest> {
      const rows = await sql<{ name: string; digest: string }[]>`${query}`;
      return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** The tables whose digest differs. */
export const changedTables = (before: StateDigest, after: StateDigest) =>
  Object.keys(after).filter((table) => before[table] !== after[table]);
