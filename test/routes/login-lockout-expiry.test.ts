import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, passwordOf, type TestChat } from "../support/chat.js";
import { expectProblem } from "../support/http.js";

// A one-second lock, so the tests can wait it out.
let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({ blockDurationSeconds: 1 });
});
afterEach(() => chat.endAllSessions());
afterAll(() => chat.close());

const attempt = (username: string, password: string) => chat.request("POST", "/login", { json: { username, password } });

async function lockOut(username: string) {
  for (let i = 0; i < 2; i++) expect((await attempt(username, "wrong")).status).toBe(401);
  const locked = await expectProblem(await attempt(username, "wrong"), 423, "account_locked");
  expect(locked.retryAfter).toBe(1);
}

describe("a lock that has run out", () => {
  it("lets the right password in again", async () => {
    const { hans } = await chat.users("hans");
    await lockOut(hans);
    await expectProblem(await attempt(hans, passwordOf(hans)), 423, "account_locked");
    await sleep(1500);
    const response = await attempt(hans, passwordOf(hans));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ username: hans, tokenType: "Bearer" });
  });

  it("starts counting wrong passwords from three again", async () => {
    const { hans } = await chat.users("hans");
    await lockOut(hans);
    await sleep(1500);
    const first = await expectProblem(
      await attempt(hans, "wrong"),
      401,
      "invalid_credentials",
      "Invalid Password. Please try again",
    );
    expect(first.attemptsLeft).toBe(2);
    const second = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials");
    expect(second.attemptsLeft).toBe(1);
    await expectProblem(
      await attempt(hans, "wrong"),
      423,
      "account_locked",
      "Invalid Password. Your account has been blocked. Please try again later",
    );
  });
});
