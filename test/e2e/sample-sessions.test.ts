import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/chat.js";
import { httpClient, names } from "./client.js";

// The original's sample sessions, against a real server over HTTP. Every test's users are in the
// credentials file from the start; each test logs its users out afterwards, so "who is online" is theirs alone.
const users = {
  twoWay: names("hans", "luke"),
  blocked: names("hans", "luke", "yoda"),
  whoelse: names("hans", "luke", "yoda"),
  whoelsesince: names("hans", "luke", "yoda", "leia"),
  offline: names("hans", "luke"),
  presence: names("hans", "luke"),
  lockout: names("hans"),
};

let server: Awaited<ReturnType<typeof startTestServer>>;
let client: ReturnType<typeof httpClient>;
const liveTokens = new Set<string>();

beforeAll(async () => {
  server = await startTestServer(
    Object.values(users).flatMap((group) => Object.values<string>(group)),
    { blockDurationSeconds: 1 },
  );
  client = httpClient(server);
});
afterEach(async () => {
  for (const token of liveTokens) await client.call("POST", "/logout", token);
  liveTokens.clear();
});
afterAll(() => server?.close());

async function login(username: string) {
  const token = await client.login(username);
  liveTokens.add(token);
  return token;
}
async function logout(token: string) {
  await client.logout(token);
  liveTokens.delete(token);
}

describe("sample sessions of the original system", () => {
  it("two users message each other both ways", async () => {
    const { hans, luke } = users.twoWay;
    const hansToken = await login(hans);
    const lukeToken = await login(luke);
    const hansStream = await client.events(hans, hansToken);
    const lukeStream = await client.events(luke, lukeToken);

    const sent = await client.call("POST", "/messages", hansToken, { to: luke, text: "Hey Dude" });
    expect(sent.status).toBe(201);
    expect(sent.body).toMatchObject({ from: hans, to: luke, text: "Hey Dude", delivery: "delivered" });
    expect((await lukeStream.next("message")).data).toMatchObject({ from: hans, to: luke, text: "Hey Dude" });

    const reply = await client.call("POST", "/messages", lukeToken, { to: hans, text: "hey hans" });
    expect(reply.status).toBe(201);
    expect((await hansStream.next("message")).data).toMatchObject({ from: luke, to: hans, text: "hey hans" });

    await hansStream.close();
    await lukeStream.close();
  });

  it("a user blocked by yoda cannot message yoda, and his broadcast skips yoda and says so", async () => {
    const { hans, luke, yoda } = users.blocked;
    const hansToken = await login(hans);
    const lukeToken = await login(luke);
    const yodaToken = await login(yoda);
    const block = await client.call("PUT", `/blocks/${hans}`, yodaToken);
    expect(block.status).toBe(200);
    expect(block.body.detail).toBe(`${hans} is blocked`);
    const hansStream = await client.events(hans, hansToken);
    const lukeStream = await client.events(luke, lukeToken);
    const yodaStream = await client.events(yoda, yodaToken);

    const refused = await client.call("POST", "/messages", hansToken, { to: yoda, text: "Hi yoda" });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      code: "blocked",
      detail: "Your message could not be delivered as the recipient has blocked you",
    });

    const broadcast = await client.call("POST", "/broadcasts", hansToken, { text: "Hello everyone" });
    expect(broadcast.status).toBe(201);
    expect(broadcast.body).toMatchObject({
      from: hans,
      text: "Hello everyone",
      recipients: 1,
      allDelivered: false,
      detail: "Your message could not be delivered to some recipients",
    });
    expect((await lukeStream.next("broadcast")).data).toMatchObject({ from: hans, text: "Hello everyone" });

    // luke's broadcast, sent after hans's, is the first thing yoda gets: nothing of hans's came before it.
    const lukeBroadcast = await client.call("POST", "/broadcasts", lukeToken, { text: "May the force be with you" });
    expect(lukeBroadcast.body).toMatchObject({ recipients: 2, allDelivered: true });
    expect((await yodaStream.next("broadcast")).data).toMatchObject({ from: luke, text: "May the force be with you" });
    expect((await hansStream.next("broadcast")).data).toMatchObject({ from: luke });
    expect(yodaStream.events.filter((event) => (event.data as { from?: string }).from === hans)).toEqual([]);

    for (const stream of [hansStream, lukeStream, yodaStream]) await stream.close();
  });

  it("whoelse lists the other users online now, sorted", async () => {
    const { hans, luke, yoda } = users.whoelse;
    const hansToken = await login(hans);
    const lukeToken = await login(luke);
    const yodaToken = await login(yoda);
    expect(await client.online(hansToken)).toEqual([luke, yoda]);
    await logout(lukeToken);
    expect(await client.online(hansToken)).toEqual([yoda]);
    expect(await client.online(yodaToken)).toEqual([hans]);
  });

  it("whoelsesince includes users who logged out inside the window but not before it", async () => {
    const { hans, luke, yoda, leia } = users.whoelsesince;
    const mine = (list: string[]) => list.filter((name) => [hans, luke, yoda, leia].includes(name));
    await login(leia);
    const hansToken = await login(hans);
    await logout(await login(luke));
    await sleep(3000);
    // yoda's logout is the last thing before the question, so it falls inside a 2 s window even under load.
    await logout(await login(yoda));

    expect(mine(await client.online(hansToken, 2))).toEqual([leia, yoda]);
    expect(mine(await client.online(hansToken, 600))).toEqual([leia, luke, yoda]);
    expect(mine(await client.online(hansToken))).toEqual([leia]);
  });

  it("a message to an offline user is delivered when they log in", async () => {
    const { hans, luke } = users.offline;
    const hansToken = await login(hans);
    const stored = await client.call("POST", "/messages", hansToken, { to: luke, text: "Are you there?" });
    expect(stored.status).toBe(201);
    expect(stored.body.delivery).toBe("stored");

    const lukeToken = await login(luke);
    const lukeStream = await client.events(luke, lukeToken);
    expect(await lukeStream.next()).toMatchObject({ event: "message", data: { from: hans, to: luke, text: "Are you there?" } });
    await lukeStream.close();
  });

  it("others are told when a user logs in and out", async () => {
    const { hans, luke } = users.presence;
    const hansStream = await client.events(hans, await login(hans));
    const lukeToken = await login(luke);
    expect((await hansStream.next("presence")).data).toMatchObject({ username: luke, status: "online" });
    const lukeStream = await client.events(luke, lukeToken);
    await logout(lukeToken);
    expect((await hansStream.next("presence")).data).toMatchObject({ username: luke, status: "offline" });
    expect((await lukeStream.next("session_ended")).data).toEqual({ reason: "logout" });
    await lukeStream.closed();
    await hansStream.close();
  });

  it("three wrong passwords lock the account until the block duration ends", async () => {
    const { hans } = users.lockout;
    const first = await client.tryLogin(hans, "wrong");
    expect(first.status).toBe(401);
    expect(first.body).toMatchObject({
      code: "invalid_credentials",
      detail: "Invalid Password. Please try again",
      attemptsLeft: 2,
    });
    expect((await client.tryLogin(hans, "wrong")).body.attemptsLeft).toBe(1);

    const third = await client.tryLogin(hans, "wrong");
    expect(third.status).toBe(423);
    expect(third.body).toMatchObject({
      code: "account_locked",
      detail: "Invalid Password. Your account has been blocked. Please try again later",
    });
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    const duringLock = await client.tryLogin(hans);
    expect(duringLock.status).toBe(423);
    expect(duringLock.body.detail).toBe("Your account is blocked due to multiple login failures. Please try again later");

    await sleep(1200);
    const after = await client.tryLogin(hans);
    expect(after.status).toBe(200);
    liveTokens.add(after.body.token);
  });
});
