import { randomUUID } from "node:crypto";
import { and, count, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deleteExpiredKeys, findReplay, KEY_SWEEP_LOCK, keyedRequest, sendOnce } from "../../src/chat/idempotency.js";
import { queryRows, type Transaction } from "../../src/db/client.js";
import { blocks, idempotencyKeys, messages } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";

const TTL_SECONDS = 3600;

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({ idempotencyKeyTtlSeconds: TTL_SECONDS });
});
afterAll(() => chat.close());
afterEach(() => chat.endAllSessions());

const keyed = (key: string) => ({ "idempotency-key": key });

/** Moves a key's creation back past the TTL, by the database's clock. */
async function age(username: string, key: string, seconds = TTL_SECONDS + 60) {
  await chat.db
    .update(idempotencyKeys)
    .set({ createdAt: sql`now() - make_interval(secs => ${seconds})` })
    .where(and(eq(idempotencyKeys.username, username), eq(idempotencyKeys.key, key)));
}

async function keysOf(username: string) {
  const rows = await chat.db
    .select({ key: idempotencyKeys.key })
    .from(idempotencyKeys)
    .where(eq(idempotencyKeys.username, username));
  return rows.map((row) => row.key).sort();
}

describe("an Idempotency-Key older than the TTL", () => {
  it("is new again: a send with it stores and answers a new message", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const key = randomUUID();
    const send = (text: string) => chat.request("POST", "/messages", { token, json: { to: luke, text }, headers: keyed(key) });

    const first = (await (await send("Hey Dude")).json()) as { id: number };
    const retried = (await (await send("Hey Dude")).json()) as { id: number };
    expect(retried.id).toBe(first.id);

    await age(hans, key);
    const again = await send("Hey Dude");
    expect(again.status).toBe(201);
    const second = (await again.json()) as { id: number };
    expect(second.id).not.toBe(first.id);
    const [stored] = await chat.db.select({ n: count() }).from(messages).where(eq(messages.sender, hans));
    expect(stored!.n).toBe(2);

    // The key now stands for the new send: a retry answers it, not the first.
    expect(((await (await send("Hey Dude")).json()) as { id: number }).id).toBe(second.id);
  });

  it("may be reused for a different request, which a live key refuses", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const key = randomUUID();
    const send = (text: string) => chat.request("POST", "/messages", { token, json: { to: luke, text }, headers: keyed(key) });

    expect((await send("first")).status).toBe(201);
    expect((await send("second")).status).toBe(422);
    await age(hans, key);
    expect((await send("second")).status).toBe(201);
  });
});

describe("the expired key sweep", () => {
  it("deletes the keys older than the TTL and keeps the others", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const [old, fresh, nearlyOld] = [randomUUID(), randomUUID(), randomUUID()];
    for (const key of [old, fresh, nearlyOld]) {
      const response = await chat.request("POST", "/messages", { token, json: { to: luke, text: key }, headers: keyed(key) });
      expect(response.status).toBe(201);
    }
    await age(hans, old);
    await age(hans, nearlyOld, TTL_SECONDS - 60);

    expect(await deleteExpiredKeys(chat.db, TTL_SECONDS)).toBeGreaterThanOrEqual(1);
    expect(await keysOf(hans)).toEqual([fresh, nearlyOld].sort());
    // The messages sent under the deleted key stay.
    const [stored] = await chat.db.select({ n: count() }).from(messages).where(eq(messages.sender, hans));
    expect(stored!.n).toBe(3);
  });

  it("runs twice at once without failing, and deletes each key once", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const keys = [randomUUID(), randomUUID(), randomUUID()];
    for (const key of keys) {
      await chat.request("POST", "/messages", { token, json: { to: luke, text: key }, headers: keyed(key) });
      await age(hans, key);
    }

    const sweeps = await Promise.all([deleteExpiredKeys(chat.db, TTL_SECONDS), deleteExpiredKeys(chat.db, TTL_SECONDS)]);
    // Either both ran one after the other (the second found nothing) or one found the other holding the lock.
    expect(sweeps.filter((deleted) => deleted !== undefined && deleted > 0)).toHaveLength(1);
    expect(await keysOf(hans)).toEqual([]);
    expect(await deleteExpiredKeys(chat.db, TTL_SECONDS)).toBe(0);
  });

  // PGlite is one connection: a second transaction would wait for the first, never find the lock taken.
  it.skipIf(!process.env.DATABASE_URL)("leaves the sweep to the instance already running it", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const key = randomUUID();
    await chat.request("POST", "/messages", { token, json: { to: luke, text: key }, headers: keyed(key) });
    await age(hans, key);

    await chat.db.transaction(async (tx) => {
      await queryRows(tx, sql`select pg_advisory_xact_lock(${KEY_SWEEP_LOCK})`);
      expect(await deleteExpiredKeys(chat.db, TTL_SECONDS)).toBeUndefined();
      expect(await keysOf(hans)).toEqual([key]);
    });
    expect(await deleteExpiredKeys(chat.db, TTL_SECONDS)).toBe(1);
  });
});

describe("sendOnce, the module's own API", () => {
  /** A send that blocks `blocked` for `blocker` in its transaction and answers `response`. */
  const blocking = (blocker: string, blocked: string, response: { n: number }) => async (tx: Transaction) => {
    await tx.insert(blocks).values({ blocker, blocked });
    return { response };
  };
  const blocksOf = async (blocker: string) =>
    (await chat.db.select({ blocked: blocks.blocked }).from(blocks).where(eq(blocks.blocker, blocker))).map((row) => row.blocked);

  // What a concurrent twin meets on PostgreSQL (test/idempotency races it there): the key taken
  // between its own lookup and its claim. Called directly, without the lookup, it meets it here too.
  it("under a key taken and live rolls its own work back and answers the first response", async () => {
    const { hans, luke, leia } = await chat.users("hans", "luke", "leia");
    const request = keyedRequest(hans, randomUUID(), "POST /broadcasts", { text: "once" }, TTL_SECONDS);

    expect(await sendOnce(chat.db, request, blocking(hans, luke, { n: 1 }))).toEqual({ response: { n: 1 }, replayed: false });
    expect(await sendOnce(chat.db, request, blocking(hans, leia, { n: 2 }))).toEqual({ response: { n: 1 }, replayed: true });
    expect(await blocksOf(hans)).toEqual([luke]);
  });

  it("under a key past the TTL takes the key over, and its response is the one replayed from then on", async () => {
    const { hans, luke, leia } = await chat.users("hans", "luke", "leia");
    const request = keyedRequest(hans, randomUUID(), "POST /broadcasts", { text: "twice" }, TTL_SECONDS)!;
    await sendOnce(chat.db, request, blocking(hans, luke, { n: 1 }));
    await age(hans, request.key);

    expect(await sendOnce(chat.db, request, blocking(hans, leia, { n: 2 }))).toEqual({ response: { n: 2 }, replayed: false });
    expect(await findReplay(chat.db, request)).toEqual({ n: 2 });
    expect((await blocksOf(hans)).sort()).toEqual([leia, luke].sort());
  });

  it("whose work fails lets the error through and leaves the key unused", async () => {
    const { hans } = await chat.users("hans");
    const request = keyedRequest(hans, randomUUID(), "POST /broadcasts", { text: "refused" }, TTL_SECONDS);
    const refused = () => Promise.reject(new Error("refused by the send"));
    await expect(sendOnce(chat.db, request, refused)).rejects.toThrow("refused by the send");
    expect(await keysOf(hans)).toEqual([]);
  });

  it("without a key sends each time and stores no key", async () => {
    const { hans, luke, leia } = await chat.users("hans", "luke", "leia");
    const request = keyedRequest(hans, undefined, "POST /broadcasts", { text: "free" }, TTL_SECONDS);
    expect(request).toBeUndefined();
    expect(await sendOnce(chat.db, request, blocking(hans, luke, { n: 1 }))).toEqual({ response: { n: 1 }, replayed: false });
    expect(await sendOnce(chat.db, request, blocking(hans, leia, { n: 2 }))).toEqual({ response: { n: 2 }, replayed: false });
    expect(await keysOf(hans)).toEqual([]);
  });
});
