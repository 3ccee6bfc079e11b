import { randomUUID } from "node:crypto";
import { and, count, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deleteExpiredKeys, KEY_SWEEP_LOCK } from "../../src/chat/idempotency.js";
import { queryRows } from "../../src/db/client.js";
import { idempotencyKeys, messages } from "../../src/db/schema.js";
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
