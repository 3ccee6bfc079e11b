import { randomUUID } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
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
    await database.db.insert(users).values(["hans", "luke", "yoda", "leia"].map((username) => ({ username, passwordHash: "x" })));
  });
  afterAll(() => database?.close());
  beforeEach(() => vi.useFakeTimers({ toFake: ["performance"] }));
  afterEach(() => vi.useRealTimers());

  type Activity = { id: string; idleMs: number }[];
  function countedCache(options: { failWrites?: () => Promise<void> } = {}) {
    const lookups = createSessionLookups(database.db);
    const made = { find: 0, writes: [] as Activity[] };
    const cache = createSessionCache(
      {
        findSession: (id) => (made.find++, lookups.findSession(id)),
        recordActivity: async (activity) => {
          made.writes.push(activity);
          await options.failWrites?.();
          return lookups.recordActivity(activity);
        },
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
  const activityLongAgo = (...ids: string[]) =>
    database.db
      .update(sessions)
      .set({ lastActivityAt: sql`now() - interval '10 seconds'` })
      .where(inArray(sessions.id, ids));
  /** Seconds between the session's recorded activity and the database's now. */
  const secondsIdle = async (id: string) =>
    Number(
      (
        await database.db
          .select({ idle: sql<string>`extract(epoch from now() - ${sessions.lastActivityAt})` })
          .from(sessions)
          .where(eq(sessions.id, id))
      )[0]!.idle,
    );

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

  it("asks the database once for many requests at once, and once again after a tenth of the timeout", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("hans");
    const owners = await Promise.all(Array.from({ length: 5 }, () => cache.owner(id, true)));
    for (let call = 0; call < 20; call++) owners.push(await cache.owner(id, true));
    expect(owners).toEqual(Array(25).fill("hans"));
    expect(made.find).toBeLessThanOrEqual(5); // the first calls were all in flight at once
    const findsSoFar = made.find;
    vi.advanceTimersByTime(300);
    expect(await cache.owner(id, true)).toBe("hans");
    expect(made.find).toBe(findsSoFar + 1);
  });

  it("writes no activity on a request, then each session's as of its latest request, all in one statement", async () => {
    const { cache, made } = countedCache();
    const [hans, luke] = [await newSession("hans"), await newSession("luke")];
    await activityLongAgo(hans, luke);
    expect(await cache.owner(hans, true)).toBe("hans");
    vi.advanceTimersByTime(150);
    expect(await cache.owner(luke, true)).toBe("luke");
    expect(await cache.owner(hans, true)).toBe("hans");
    expect(await secondsIdle(hans)).toBeGreaterThanOrEqual(10); // kept in memory, not written

    vi.advanceTimersByTime(200);
    await cache.writeActivity();
    expect(made.writes).toEqual([
      expect.arrayContaining([
        { id: hans, idleMs: 200 },
        { id: luke, idleMs: 200 },
      ]),
    ]);
    expect(made.writes[0]).toHaveLength(2);
    // As of the latest request, 0.2 s before the write, plus the real time the statement took.
    for (const id of [hans, luke]) {
      expect(await secondsIdle(id)).toBeGreaterThanOrEqual(0.2);
      expect(await secondsIdle(id)).toBeLessThan(2);
    }
    await cache.writeActivity();
    expect(made.writes).toHaveLength(1); // nothing new to write: no statement
  });

  it("never moves recorded activity back", async () => {
    const { cache } = countedCache();
    const id = await newSession("hans");
    expect(await cache.owner(id, true)).toBe("hans");
    vi.advanceTimersByTime(60_000); // the request was a minute before this write, by this instance's clock
    await cache.writeActivity();
    expect(await secondsIdle(id)).toBeLessThan(2); // the session was created (active) just now
  });

  it("records no activity for a stream's check, nor for a request of an ended session", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("luke");
    expect(await cache.owner(id, false)).toBe("luke");
    expect(await cache.owner(id, false)).toBe("luke");
    expect(made.find).toBe(1);
    const ended = await newSession("hans");
    await endInDatabase(ended);
    expect(await cache.owner(ended, true)).toBeUndefined();
    await cache.writeActivity();
    expect(made.writes).toEqual([]);
  });

  it("counts a write as a check of the sessions it wrote: a busy session is not looked up again", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("yoda");
    expect(await cache.owner(id, true)).toBe("yoda");
    vi.advanceTimersByTime(250);
    expect(await cache.owner(id, true)).toBe("yoda");
    await cache.writeActivity();
    vi.advanceTimersByTime(200); // 450 ms after the lookup, 200 ms after the write
    expect(await cache.owner(id, true)).toBe("yoda");
    expect(made.find).toBe(1);
    vi.advanceTimersByTime(100);
    expect(await cache.owner(id, true)).toBe("yoda");
    expect(made.find).toBe(2);
  });

  it("forgets a session its write finds ended", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("yoda");
    expect(await cache.owner(id, true)).toBe("yoda");
    await endInDatabase(id);
    await cache.writeActivity();
    expect(await cache.owner(id, true)).toBeUndefined();
    expect(made.find).toBe(2);
  });

  it("keeps the activity of a failed write, the latest request's, for the next write", async () => {
    let failNext: (() => void) | undefined;
    const { cache, made } = countedCache({
      failWrites: () =>
        made.writes.length === 1 ? new Promise((_, reject) => (failNext = () => reject(new Error("down")))) : Promise.resolve(),
    });
    const id = await newSession("leia");
    expect(await cache.owner(id, true)).toBe("leia");
    const failing = cache.writeActivity();
    vi.advanceTimersByTime(100);
    expect(await cache.owner(id, true)).toBe("leia"); // while the write is in flight
    vi.advanceTimersByTime(50);
    failNext!();
    await expect(failing).rejects.toThrow("down");
    await activityLongAgo(id);
    vi.advanceTimersByTime(50);
    await cache.writeActivity();
    expect(made.writes).toEqual([[{ id, idleMs: 0 }], [{ id, idleMs: 100 }]]);
    expect(await secondsIdle(id)).toBeLessThan(2);
  });

  it("forgets an ended session at once, and does not remember a lookup or write that raced with the end", async () => {
    const { cache, made } = countedCache();
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

    const third = await newSession("yoda");
    expect(await cache.owner(third, true)).toBe("yoda");
    vi.advanceTimersByTime(200);
    expect(await cache.owner(third, true)).toBe("yoda");
    const writing = cache.writeActivity();
    cache.ended(randomUUID()); // any end told while the write is in the database
    await writing;
    await endInDatabase(third);
    vi.advanceTimersByTime(150); // past the lookup's tenth of the timeout, not the write's
    const finds = made.find;
    expect(await cache.owner(third, true)).toBeUndefined();
    expect(made.find).toBe(finds + 1);
  });

  it("forgets everything when notices may have been missed", async () => {
    const { cache, made } = countedCache();
    const id = await newSession("hans");
    cache.started(id, "hans");
    expect(await cache.owner(id, true)).toBe("hans");
    expect(made.find).toBe(0);
    await endInDatabase(id);
    cache.forgetAll();
    expect(await cache.owner(id, true)).toBeUndefined();
  });
});
