import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "../../src/db/schema.js";
import { createRateLimits } from "../../src/http/rate-limit.js";
import { createTestChat, passwordOf, startTestServer, type TestChat } from "../support/chat.js";
import { expectProblem, streamTracker } from "../support/http.js";

const limits = { rateLimitPerUser: 5, rateLimitPerAddress: 10, loginRateLimitPerUsername: 3, loginRateLimitPerAddress: 4 };

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat(limits);
});
afterAll(() => chat.close());
const streams = streamTracker(() => chat);
afterAll(() => streams.closeAll());

let addressCount = 0;
/** A client address of its own for each test, passed the way @hono/node-server hands the socket to the app. */
function newAddress() {
  addressCount += 1;
  return `10.0.${Math.floor(addressCount / 250)}.${addressCount % 250}`;
}
function requestFrom(address: string, method: string, path: string, json?: unknown) {
  const init: RequestInit = { method };
  if (json !== undefined) {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(json);
  }
  return chat.app.request(path, init, { incoming: { socket: { remoteAddress: address } } });
}

/** A 429 rate_limited problem whose Retry-After header and retryAfter member agree, within the minute window. */
async function expectRateLimited(response: Response) {
  const problem = await expectProblem(response, 429, "rate_limited");
  expect(problem.retryAfter).toBeGreaterThanOrEqual(1);
  expect(problem.retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers.get("retry-after")).toBe(String(problem.retryAfter));
  return problem;
}

describe("the per-user limit", () => {
  it("answers the request over the limit with 429, Retry-After and retryAfter, and only for that user", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    for (let i = 0; i < limits.rateLimitPerUser; i++) {
      expect((await chat.request("GET", "/users/online", { token: hansToken })).status).toBe(200);
    }
    await expectRateLimited(await chat.request("GET", "/users/online", { token: hansToken }));
    await expectRateLimited(await chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "hi" } }));
    expect((await chat.request("GET", "/users/online", { token: lukeToken })).status).toBe(200);
  });

  it("counts an event stream once, however many events it carries", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const stream = await streams.open(hansToken);
    for (const text of ["one", "two", "three"]) {
      expect((await chat.request("POST", "/messages", { token: lukeToken, json: { to: hans, text } })).status).toBe(201);
      expect((await stream.next("message")).data).toMatchObject({ text });
    }
    for (let i = 1; i < limits.rateLimitPerUser; i++) {
      expect((await chat.request("GET", "/blocks", { token: hansToken })).status).toBe(200);
    }
    await expectRateLimited(await chat.request("GET", "/blocks", { token: hansToken }));
  });

  it("does not spend a user's budget on requests with a bad token", async () => {
    const { hans } = await chat.users("hans");
    const hansToken = await chat.login(hans);
    for (let i = 0; i < limits.rateLimitPerUser * 2; i++) {
      await expectProblem(await chat.request("GET", "/blocks", { token: `${hansToken}x` }), 401, "unauthorized");
    }
    expect((await chat.request("GET", "/blocks", { token: hansToken })).status).toBe(200);
  });
});

describe("the login limits", () => {
  it("limit attempts per username, even one that does not exist", async () => {
    const { hans } = await chat.users("hans");
    const ghost = `${hans}_ghost`;
    for (let i = 0; i < limits.loginRateLimitPerUsername; i++) {
      await expectProblem(
        await chat.request("POST", "/login", { json: { username: ghost, password: "guess" } }),
        401,
        "invalid_credentials",
      );
    }
    await expectRateLimited(await chat.request("POST", "/login", { json: { username: ghost, password: "guess" } }));
    expect((await chat.request("POST", "/login", { json: { username: hans, password: passwordOf(hans) } })).status).toBe(200);
  });

  it("refuse even the right password over the limit, without counting toward the lockout", async () => {
    const { hans } = await chat.users("hans");
    const attempt = (password: string) => chat.request("POST", "/login", { json: { username: hans, password } });
    expect((await expectProblem(await attempt("wrong"), 401, "invalid_credentials")).attemptsLeft).toBe(2);
    const welcome = await attempt(passwordOf(hans));
    expect(welcome.status).toBe(200);
    const { token } = (await welcome.json()) as { token: string };
    expect((await chat.request("POST", "/logout", { token })).status).toBe(204);
    expect((await expectProblem(await attempt("wrong"), 401, "invalid_credentials")).attemptsLeft).toBe(2);
    await expectRateLimited(await attempt("wrong"));
    await expectRateLimited(await attempt(passwordOf(hans)));
    const [row] = await chat.db.select({ failedAttempts: users.failedAttempts }).from(users).where(eq(users.username, hans));
    expect(row!.failedAttempts).toBe(1);
  });

  it("limit attempts per address across usernames", async () => {
    const { hans } = await chat.users("hans");
    const address = newAddress();
    for (let i = 0; i < limits.loginRateLimitPerAddress; i++) {
      const response = await requestFrom(address, "POST", "/login", { username: `${hans}_ghost${i}`, password: "guess" });
      await expectProblem(response, 401, "invalid_credentials");
    }
    await expectRateLimited(await requestFrom(address, "POST", "/login", { username: hans, password: passwordOf(hans) }));
    const elsewhere = await requestFrom(newAddress(), "POST", "/login", { username: hans, password: passwordOf(hans) });
    expect(elsewhere.status).toBe(200);
  });
});

describe("the per-address limit", () => {
  it("counts every request from an address, whatever the route", async () => {
    const address = newAddress();
    for (let i = 0; i < limits.rateLimitPerAddress / 2; i++) {
      expect((await requestFrom(address, "GET", "/health")).status).toBe(200);
      expect((await requestFrom(address, "GET", "/no-such-route")).status).toBe(404);
    }
    await expectRateLimited(await requestFrom(address, "GET", "/health"));
    await expectRateLimited(await requestFrom(address, "GET", "/users/online"));
    expect((await requestFrom(newAddress(), "GET", "/health")).status).toBe(200);
  });

  it("applies to a real socket", async () => {
    const server = await startTestServer(["rate_limit_socket"], { rateLimitPerAddress: 3 });
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/health`)).status).toBe(200);
      await expectRateLimited(await fetch(`${server.url}/health`));
    } finally {
      await server.close();
    }
  });
});

describe("a limit of 0", () => {
  it("turns that limit off", async () => {
    const off = createRateLimits({ perUser: 0, perAddress: 0, loginPerUsername: 0, loginPerAddress: 0 });
    for (let i = 0; i < 1000; i++) {
      await off.request("10.9.9.9");
      await off.user("hans");
      await off.login("10.9.9.9", "hans");
    }
  });

  it("leaves the other limits on", async () => {
    const userOff = createRateLimits({ perUser: 0, perAddress: 2, loginPerUsername: 0, loginPerAddress: 0 });
    for (let i = 0; i < 100; i++) await userOff.user("hans");
    await userOff.request("10.9.9.9");
    await userOff.request("10.9.9.9");
    await expect(userOff.request("10.9.9.9")).rejects.toMatchObject({ code: "rate_limited" });
  });
});
