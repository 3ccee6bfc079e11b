import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { expectValidationError } from "../support/http.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterEach(() => chat.endAllSessions());
afterAll(() => chat.close());

async function online(token: string, query = ""): Promise<string[]> {
  const response = await chat.request("GET", `/users/online${query}`, { token });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { users: string[] }).users;
}

/** whoelsesince also lists users of earlier tests who logged out lately; keep only this test's. */
const only = (users: string[], mine: Record<string, string>) => users.filter((user) => Object.values(mine).includes(user));

async function logout(token: string) {
  expect((await chat.request("POST", "/logout", { token })).status).toBe(204);
}

describe("GET /users/online (whoelse)", () => {
  it("lists the other online users sorted by code point, without the caller", async () => {
    const names = await chat.users("me", "zed", "anna", "Bob", "offline");
    const token = await chat.login(names.me);
    await chat.login(names.zed);
    await chat.login(names.anna);
    await chat.login(names.Bob);
    expect(await online(token)).toEqual([names.Bob, names.anna, names.zed]);
  });

  it("leaves out users who have logged out", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    await chat.login(yoda);
    await logout(lukeToken);
    expect(await online(hansToken)).toEqual([yoda]);
  });

  it("does not hide users on either side of a block", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const yodaToken = await chat.login(yoda);
    expect((await chat.request("PUT", `/blocks/${luke}`, { token: hansToken })).status).toBe(200);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: yodaToken })).status).toBe(200);
    expect(await online(hansToken)).toEqual([luke, yoda].sort());
    expect(await online(lukeToken)).toEqual([hans, yoda].sort());
    expect(await online(yodaToken)).toEqual([hans, luke].sort());
  });
});

describe("GET /users/online?since= (whoelsesince)", () => {
  it("adds users who logged out within the window, and not those who left before it", async () => {
    const mine = await chat.users("hans", "luke", "yoda", "obi");
    const { hans, luke, yoda } = mine;
    const hansToken = await chat.login(hans);
    await chat.login(luke);
    await logout(await chat.login(yoda));
    await sleep(1500);

    expect(only(await online(hansToken, "?since=1"), mine)).toEqual([luke]);
    expect(only(await online(hansToken, "?since=10"), mine)).toEqual([luke, yoda]);
    expect(await online(hansToken)).toEqual([luke]);
  });

  it("never lists the caller, not even for an earlier session", async () => {
    const mine = await chat.users("hans", "luke");
    await logout(await chat.login(mine.hans));
    const hansToken = await chat.login(mine.hans);
    await chat.login(mine.luke);
    expect(only(await online(hansToken, "?since=60"), mine)).toEqual([mine.luke]);
  });

  it("does not hide users who blocked the caller", async () => {
    const mine = await chat.users("hans", "luke");
    const hansToken = await chat.login(mine.hans);
    const lukeToken = await chat.login(mine.luke);
    expect((await chat.request("PUT", `/blocks/${mine.hans}`, { token: lukeToken })).status).toBe(200);
    await logout(lukeToken);
    expect(only(await online(hansToken, "?since=60"), mine)).toEqual([mine.luke]);
  });

  it.each(["-1", "abc", "1.5"])("rejects since=%s", async (since) => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectValidationError(await chat.request("GET", `/users/online?since=${since}`, { token }), "since");
  });
});
