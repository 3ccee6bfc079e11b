import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { fillPlaceholders, sql, SQL, type Placeholder, type Query } from "drizzle-orm";
import { PgDialect, type AnyPgColumn, type PgDatabase, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { makeDataDirectoryPrivate } from "./data-dir.js";
import * as schema from "./schema.js";

type Schema = typeof schema;
/** Either driver: the domain only uses what both share. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

export type DatabaseHandle = {
  db: Database;
  kind: "pglite" | "postgres";
  /** Where the data lives, for the start-up line (no password). */
  description: string;
  /** The postgres.js client, when there is one (LISTEN needs it). */
  sql?: postgres.Sql;
  close(): Promise<void>;
};

export const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));

/**
 * Opens the embedded PGlite database in dataDir (or in memory) and applies the migrations. The
 * folder holds the token signing secret, so it is made private to this user before and after
 * PGlite writes to it (see makeDataDirectoryPrivate).
 */
export async function openPglite(dataDir?: string): Promise<DatabaseHandle> {
  if (!dataDir) return wrapPglite(await PGlite.create(), "embedded PGlite in memory");
  // Folders PGlite makes from now on are 0700; its files come out 0666 whatever the umask, but sit
  // in a 0700 folder, and are tightened below and at every start.
  process.umask(0o077);
  makeDataDirectoryPrivate(dataDir);
  const client = await PGlite.create(dataDir);
  try {
    const handle = await wrapPglite(client, `embedded PGlite in ${dataDir}`);
    makeDataDirectoryPrivate(dataDir);
    return handle;
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** Wraps an already-open PGlite (tests clone a migrated one) and makes sure it is migrated. */
export async function wrapPglite(client: PGlite, description = "embedded PGlite"): Promise<DatabaseHandle> {
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder });
  return {
    db: db as unknown as Database,
    kind: "pglite",
    description,
    close: () => client.close(),
  };
}

/** Connects to a PostgreSQL server through postgres.js and applies the migrations. */
export async function openPostgres(url: string, options: { max?: number } = {}): Promise<DatabaseHandle> {
  // A name of its own lets the pool find its own connections in pg_stat_activity (see db/health.ts).
  const applicationName = `chat-service ${randomUUID().slice(0, 8)}`;
  // Statements are prepared (see preparedStatements) under PostgreSQL's default plan_cache_mode:
  // it keeps planning per call while a generic plan would cost more. force_custom_plan also made
  // it replan every foreign-key check (those are cached plans too): 2.2 ms instead of 1.2 per batch of 25.
  const connection = { application_name: applicationName };
  const sql = postgres(url, { max: options.max ?? 10, onnotice: () => {}, connection });
  await migratePostgres(drizzlePostgres(sql), { migrationsFolder });
  const db = drizzlePostgres(preparedStatements(sql), { schema });
  const parsed = new URL(url);
  return {
    db: db as unknown as Database,
    kind: "postgres",
    description: `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`,
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * drizzle runs each query as `sql.unsafe(text, params, { prepare: false })` unless it was given a
 * name, and postgres.js then spends two round trips on every query with parameters (describe,
 * then bind and execute) and PostgreSQL parses and plans it again each time. The service's SQL
 * texts are few and fixed (lists go as one array parameter, see textArray), so this client has
 * postgres.js prepare each once per connection and run it in one round trip after that. Migrations
 * use the plain client.
 */
function preparedStatements(client: postgres.Sql): postgres.Sql {
  const wrap = (target: postgres.Sql): postgres.Sql =>
    new Proxy(target, {
      get(object, key, receiver) {
        if (key === "unsafe") {
          return (text: string, params?: postgres.ParameterOrJSON<never>[], queryOptions?: postgres.UnsafeQueryOptions) =>
            object.unsafe(text, params, { ...queryOptions, prepare: true });
        }
        if (key === "begin" || key === "savepoint") {
          // Transactions hand their callback a client of their own: it prepares too.
          return (...args: unknown[]) => {
            const callback = args.at(-1) as (tx: postgres.Sql) => unknown;
            const method = Reflect.get(object, key, receiver) as (...rest: unknown[]) => unknown;
            return method.call(object, ...args.slice(0, -1), (tx: postgres.Sql) => callback(wrap(tx)));
          };
        }
        return Reflect.get(object, key, receiver) as unknown;
      },
    });
  return wrap(client);
}

export function openDatabase(config: { databaseUrl?: string; dataDir: string }): Promise<DatabaseHandle> {
  return config.databaseUrl ? openPostgres(config.databaseUrl) : openPglite(config.dataDir);
}

/**
 * Runs raw SQL (built with drizzle's `sql` template, so parameterised), or a statement statementOnce
 * compiled, and returns its rows on either driver.
 */
export async function queryRows<Row>(db: Database | Transaction, query: SQL | Query): Promise<Row[]> {
  // A compiled statement goes to the driver as it is; drizzle's execute would walk a template again.
  const result: unknown =
    query instanceof SQL
      ? await db.execute(query)
      : await db._.session.prepareQuery(query, undefined, undefined, false).execute();
  // postgres.js answers the rows themselves, PGlite an object holding them.
  return Array.isArray(result) ? (result as Row[]) : (result as { rows: Row[] }).rows;
}

/**
 * A list as one text[] parameter: `column = any(${textArray(names)})` keeps the same SQL text
 * whatever the list's length, so the server plans it once (drizzle's inArray makes a parameter per
 * item; postgres.js cannot bind JS arrays through drizzle). Cast further as needed (`::uuid[]`).
 */
export function textArray(values: readonly string[]): SQL {
  return sql`${textArrayLiteral(values)}::text[]`;
}

/** The text[] literal textArray binds, for a statement built once (see statementOnce): `${slot}::text[]`. */
export function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/[\\"]/g, "\\$&")}"`).join(",")}}`;
}

/**
 * A statement compiled once, for the ones that run for every batch of requests. drizzle walks a
 * template's every chunk (tables, columns, nested templates) to write the same text again, and
 * walks even a template of plain text and parameters chunk by chunk: for one-message batches, a
 * quarter of the server's CPU per batch (BENCHMARKS.md, "The batch statement compiled once"). `build` gets
 * a placeholder for each name (bind it with its cast, e.g. `${slots.names}::text[]`); each call
 * answers the compiled text with those values in the placeholders' places, for queryRows on either
 * driver. Values of anything else in the template are kept from the first call.
 */
export function statementOnce<Name extends string>(
  names: readonly Name[],
  build: (slots: Record<Name, Placeholder<Name>>) => SQL,
): (values: Record<Name, string>) => Query {
  let compiled: Query | undefined;
  return (values) => {
    compiled ??= new PgDialect().sqlToQuery(
      build(Object.fromEntries(names.map((name) => [name, sql.placeholder(name)])) as Record<Name, Placeholder<Name>>),
    );
    return { ...compiled, params: fillPlaceholders(compiled.params, values) };
  };
}

/** A column's bare name, where SQL takes no table-qualified one (insert column lists, update set). */
export const bareColumn = (column: AnyPgColumn) => sql.identifier(column.name);

/** Rows as one jsonb parameter, for multi-row inserts through `jsonb_to_recordset` with one SQL text. */
export function jsonRows(rows: readonly object[]): SQL {
  return sql`${JSON.stringify(rows)}::jsonb`;
}

/** The SQLSTATE of a database error, looking through drizzle's wrapper. */
export function sqlState(error: unknown): string | undefined {
  for (let current = error; current && typeof current === "object"; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

const CONNECTION_ERRORS = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
]);

/** A lost or refused database connection (server restarting, backend terminated), as opposed to a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const state = sqlState(error);
  if (state && (state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03")) return true;
  for (let current = error; current && typeof current === "object"; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_ERRORS.has(code)) return true;
  }
  return false;
}
