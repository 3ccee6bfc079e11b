import { asc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syncUsers } from "../../src/chat/credentials.js";
import { DISABLED_HASH, hashCost, verifyPassword } from "../../src/chat/passwords.js";
import { users } from "../../src/db/schema.js";
import { openTestDatabase } from "../support/database.js";

const COST = 1024;

let database: Awaited<ReturnType<typeof openTestDatabase>>;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(() => database.close());

const stored = async () =>
  Object.fromEntries(
    (await database.db.select().from(users).orderBy(asc(users.username))).map((row) => [row.username, row.passwordHash]),
  );

/** The credentials file is the truth at every start: syncUsers, as the server runs it. */
describe("syncUsers", () => {
  it("stores salted slow hashes, keeps a hash while its password and cost stand, re-hashes otherwise, and disables users no longer listed", async () => {
    await syncUsers(
      database.db,
      [
        { username: "hans", password: "falcon" },
        { username: "luke", password: "falcon" },
        { username: "yoda", password: "wise" },
      ],
      COST,
    );
    const first = await stored();
    expect(Object.keys(first)).toEqual(["hans", "luke", "yoda"]);
    expect(await verifyPassword("falcon", first.hans!)).toBe(true);
    expect(await verifyPassword("wise", first.yoda!)).toBe(true);
    expect(first.hans).not.toBe(first.luke); // salted: one password, two hashes
    expect(hashCost(first.hans!)).toBe(COST);

    // The next start: hans unchanged, luke's password changed, yoda gone, leia new.
    await syncUsers(
      database.db,
      [
        { username: "hans", password: "falcon" },
        { username: "luke", password: "sunrise" },
        { username: "leia", password: "alderaan" },
      ],
      COST,
    );
    const second = await stored();
    expect(Object.keys(second)).toEqual(["hans", "leia", "luke", "yoda"]);
    expect(second.hans).toBe(first.hans);
    expect(await verifyPassword("sunrise", second.luke!)).toBe(true);
    expect(await verifyPassword("falcon", second.luke!)).toBe(false);
    expect(await verifyPassword("alderaan", second.leia!)).toBe(true);
    expect(second.yoda).toBe(DISABLED_HASH); // kept with its history, no longer able to log in

    // A start at another cost re-hashes every password at that cost.
    await syncUsers(database.db, [{ username: "hans", password: "falcon" }], COST * 2);
    const third = await stored();
    expect(hashCost(third.hans!)).toBe(COST * 2);
    expect(await verifyPassword("falcon", third.hans!)).toBe(true);
    expect([third.leia, third.luke, third.yoda]).toEqual([DISABLED_HASH, DISABLED_HASH, DISABLED_HASH]);
  });
});
