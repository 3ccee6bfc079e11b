import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createSessionCache, createSessionLookups } from "../../src/chat/sessions.js";
import { sessions, users } from "../../src/db/schema.js";
import { openTestDatabase } from "../support/database.js";

/**
 * The session cache over a real database, with the database lookups it makes counted. The cache
 * reads its time from performance.now(), which the tests move by hand: a loaded machine cannot
 * make a lookup look stale.
 */
describe("session cache", () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  const timeoutSeconds = 3; // sessions are re-checked every 0.3 s
  beforeAll(async () => {
    database = await openTestDatabase();
    await database.db.insert(users).values(["hans", "luke", "yoda"].map((username) => ({ username, passwordHash: "x" })));
  });
  afterAll(() => database?.close());
  beforeEach(() => vi.useFakeTimers({ toFake: ["performance"] }));
  afterEach(() => vi.useRealTimers());

  function countedCache() {
    const lookups = createSessionLookups(database.db, timeoutSeconds);
    const made = { touch: 0, find: 0 };
    const cache = createSessionCache(
      {
        touchSession: (id) => (made.touch++, lookups.touchSession(id)),
        findSession: (id) => (made.find++, lookups.findSession(id)),
      },
      timeoutSeconds,
    );
    return { cache, made };
  }
  async function newSession(username: string) {
    await database.db
      .update(sessions)
      .set({ endedAt: sql`now()` })
      .where(eq(sessions.username, username));
    const [row] = await database.db.insert(sessions).values({ username }).returning({ id: sessions.id });
    return row!.id;
  }
  const endInDatabase = (id: string) =>
    database.db
      .update(sessions)
      .set({ endedAt: sql`now()` })
      .where(eq(sessions.id, id));
  const activityOf = async (id: string) =>
    (await database.db.select().from(sessions).where(eq(sessions.id, id)))[0]!.lastActivityAt;

  it("asks the database once per tenth of the timeout, and records activity on that request", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("hans");
    await database.db
      .update(sessions)
      .set({ lastActivityAt: sql`now() - interval '10 seconds'` })
      .where(eq(sessions.id, id));
    const before = await activityOf(id);
    const owners = await Promise.all(Array.from({ length: 5 }, () => cache.owner(id, true)));
    for (let call = 0; call < 20; call++) owners.push(await cache.owner(id, true));
    expect(owners).toEqual(Array(25).fill("hans"));
    expect(made.touch).toBeLessThanOrEqual(5); // the first calls were all in flight at once
    const touchesSoFar = made.touch;
    expect((await activityOf(id)).getTime()).toBeGreaterThan(before.getTime());

    vi.advanceTimersByTime(350);
    expect(await cache.owner(id, true)).toBe("hans");
    expect(made.touch).toBe(touchesSoFar + 1);
  });

  it("trusts what it knows for less than a tenth of the timeout, not for a tenth exactly", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("luke");
    cache.started(id, "luke");
    vi.advanceTimersByTime(299);
    expect(await cache.owner(id, false)).toBe("luke");
    expect(made.find).toBe(0);
    vi.advanceTimersByTime(1);
    expect(await cache.owner(id, false)).toBe("luke");
    expect(made.find).toBe(1);
  });

  it("answers a stream's check (no activity) from a recent lookup, but a request still records activity", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("luke");
    expect(await cache.owner(id, false)).toBe("luke");
    expect(await cache.owner(id, false)).toBe("luke");
    expect(made.find).toBe(1);
    expect(await cache.owner(id, true)).toBe("luke");
    expect(made.touch).toBe(1);
  });

  it("forgets an ended session at once, and does not remember a lookup that raced with the end", async () => {
    const { cache } = countedCache();
    const id = await newSession("yoda");
    expect(await cache.owner(id, true)).toBe("yoda");
    await endInDatabase(id);
    expect(await cache.owner(id, true)).toBe("yoda"); // nobody told this instance yet
    cache.ended(id);
    expect(await cache.owner(id, true)).toBeUndefined();

    const again = await newSession("yoda");
    const inFlight = cache.owner(again, true);
    cache.ended(again); // told of the end while the lookup is still in the database
    expect(await inFlight).toBe("yoda"); // the database answered from before the end...
    await endInDatabase(again);
    expect(await cache.owner(again, true)).toBeUndefined(); // ...and that answer was not kept
  });

  it("forgets everything when notices may have been missed", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("hans");
    cache.started(id, "hans");
    expect(await cache.owner(id, true)).toBe("hans");
    expect(made.touch).toBe(0);
    await endInDatabase(id);
    cache.forgetAll();
    expect(await cache.owner(id, true)).toBeUndefined();
  });
});
