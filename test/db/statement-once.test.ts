import { sql, TransactionRollbackError } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows, statementOnce, textArray, textArrayLiteral, type DatabaseHandle } from "../../src/db/client.js";
import { users } from "../../src/db/schema.js";
import { openTestDatabase } from "../support/database.js";

let database: DatabaseHandle;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(() => database.close());

const dialect = new PgDialect();

/** The same statement as a template built per call, the way it was written before statementOnce. */
const perCall = (names: readonly string[], label: string) =>
  sql`select ${users.username} as name, ${label}::text as label, ${"kept"}::text as kept from ${users}
      where ${users.username} = any(${textArray(names)}) order by ${users.username}`;

const once = statementOnce(
  ["names", "label"],
  (slots) => sql`select ${users.username} as name, ${slots.label}::text as label, ${"kept"}::text as kept from ${users}
      where ${users.username} = any(${slots.names}::text[]) order by ${users.username}`,
);

describe("statementOnce: a statement whose text is built once", () => {
  it("renders the same text and parameters as the template built per call", () => {
    for (const [names, label] of [
      [["ann", 'b"o\\b'], "first"],
      [["zed"], "second"],
    ] as const) {
      expect(once({ names: textArrayLiteral(names), label })).toEqual(dialect.sqlToQuery(perCall(names, label)));
    }
  });

  it("binds each call's own values, on the database", async () => {
    await database.db.insert(users).values(["ann", "bob", "cy"].map((username) => ({ username, passwordHash: "x" })));
    const run = (names: string[], label: string) =>
      queryRows<{ name: string; label: string; kept: string }>(database.db, once({ names: textArrayLiteral(names), label }));
    expect(await run(["bob", "ann"], "first")).toEqual([
      { name: "ann", label: "first", kept: "kept" },
      { name: "bob", label: "first", kept: "kept" },
    ]);
    expect(await run(["cy"], "second")).toEqual([{ name: "cy", label: "second", kept: "kept" }]);
  });

  it("runs in the transaction it is given, where that transaction's own writes are seen", async () => {
    let seen: { name: string }[] = [];
    await database.db
      .transaction(async (tx) => {
        await tx.insert(users).values({ username: "dee", passwordHash: "x" });
        seen = await queryRows<{ name: string }>(tx, once({ names: textArrayLiteral(["dee"]), label: "in" }));
        tx.rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof TransactionRollbackError)) throw error;
      });
    expect(seen.map((row) => row.name)).toEqual(["dee"]);
    expect(await queryRows(database.db, once({ names: textArrayLiteral(["dee"]), label: "after" }))).toEqual([]);
  });

  it("keeps a $n inside a literal as text: the compiled text goes to the database as it is", async () => {
    const tricky = statementOnce(["a"], (slots) => sql`select '$1' as literal, ${slots.a}::text as a`);
    expect(await queryRows(database.db, tricky({ a: "x" }))).toEqual([{ literal: "$1", a: "x" }]);
  });
});
