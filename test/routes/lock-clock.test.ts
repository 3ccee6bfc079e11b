import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestChat, passwordOf, type TestChat } from "../support/chat.js";
import { expectProblem } from "../support/http.js";

// Instances' clocks drift apart; the lock is set by the database's clock, so it is read by it too.
let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({ blockDurationSeconds: 60 });
});
afterEach(async () => {
  vi.useRealTimers();
  await chat.endAllSessions();
});
afterAll(() => chat.close());

const attempt = (username: string, password: string) => chat.request("POST", "/login", { json: { username, password } });

// PGlite runs in this process and reads its clock, so only a database server can be behind this process.
describe.skipIf(!process.env.DATABASE_URL)("lock times on an instance whose clock is ahead of the database's", () => {
  it("still counts the lock from the database's clock and says how long it has left", async () => {
    const { hans } = await chat.users("hans");
    for (let i = 0; i < 2; i++) expect((await attempt(hans, "wrong")).status).toBe(401);
    const lockedNow = await expectProblem(await attempt(hans, "wrong"), 423, "account_locked");
    expect(lockedNow.retryAfter).toBeGreaterThan(55);
    await sleep(3000);

    // This process now believes the minute-long lock ran out long ago.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 3600_000 });
    const refused = await expectProblem(
      await attempt(hans, passwordOf(hans)),
      423,
      "account_locked",
      "Your account is blocked due to multiple login failures. Please try again later",
    );
    // What is left of the lock, not a whole new block duration, and not "expired".
    expect(refused.retryAfter).toBeGreaterThan(40);
    expect(refused.retryAfter).toBeLessThanOrEqual(58);
    const wrong = await expectProblem(await attempt(hans, "wrong"), 423, "account_locked");
    expect(wrong.retryAfter).toBeGreaterThan(40);
    expect(wrong.retryAfter).toBeLessThanOrEqual(58);
  });
});
