import { count, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { events, idempotencyKeys } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { waitUntil } from "../support/wait.js";

/**
 * The app runs its periodic work by itself (the periods are tested in test/chat/periodic.test.ts,
 * the work itself in test/idempotency/key-expiry.test.ts and test/events/pruning.test.ts): with a
 * one-second TTL and retention, expired keys and delivered events go within a few seconds.
 */
let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({ idempotencyKeyTtlSeconds: 1, eventRetentionSeconds: 1 });
});
afterAll(() => chat.close());

const keysOf = async (username: string) =>
  (await chat.db.select({ n: count() }).from(idempotencyKeys).where(eq(idempotencyKeys.username, username)))[0]!.n;
const eventsOf = async (username: string) =>
  (await chat.db.select({ n: count() }).from(events).where(eq(events.username, username)))[0]!.n;

describe("the running app", () => {
  it("sweeps expired idempotency keys and prunes delivered events without being asked", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const response = await chat.request("POST", "/messages", {
      token: await chat.login(hans),
      headers: { "idempotency-key": "sweep-me" },
      json: { to: luke, text: "read and forgotten" },
    });
    expect(response.status).toBe(201);
    expect(await keysOf(hans)).toBe(1);
    expect(await eventsOf(luke)).toBe(1);
    // luke certainly has it: the event may go once older than the retention.
    chat.context.cursor.advance(luke, 1);
    await chat.context.cursor.flush();

    await waitUntil(async () => (await keysOf(hans)) === 0 && (await eventsOf(luke)) === 0, "the key swept and the event pruned");
  });
});
