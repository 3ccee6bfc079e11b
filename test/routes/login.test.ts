import { sql } from "drizzle-orm";
import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { loadSigningSecret } from "../../src/chat/tokens.js";
import { queryRows } from "../../src/db/client.js";
import { sessions } from "../../src/db/schema.js";
import { passwordOf, type TestChat } from "../support/chat.js";
import { expectProblem, expectValidationError, sharedChat } from "../support/http.js";

const WELCOME = "Welcome to the greatest messaging application ever!";
const WRONG_PASSWORD = "Invalid Password. Please try again";
const NOW_LOCKED = "Invalid Password. Your account has been blocked. Please try again later";
const LOCKED = "Your account is blocked due to multiple login failures. Please try again later";

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

const attempt = (username: string, password: string, extra: Record<string, unknown> = {}) =>
  chat.request("POST", "/login", { json: { username, password, ...extra } });

const whoElse = (token: string) => chat.request("GET", "/users/online", { token });

async function logout(token: string) {
  const response = await chat.request("POST", "/logout", { token });
  expect(response.status).toBe(204);
}

/** Asserts a 401 unauthorized with the bearer challenge. */
async function expectUnauthorized(response: Response) {
  await expectProblem(response, 401, "unauthorized");
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
}

describe("POST /login", () => {
  it("starts a session and welcomes the user with a bearer token", async () => {
    const { hans } = await chat.users("hans");
    const response = await attempt(hans, passwordOf(hans));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toEqual({
      token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      tokenType: "Bearer",
      expiresAt: expect.any(String),
      username: hans,
      detail: WELCOME,
    });
    expect(new Date(body.expiresAt!).toISOString()).toBe(body.expiresAt);
    expect(Date.parse(body.expiresAt!)).toBeGreaterThan(Date.now());
    expect((await whoElse(body.token!)).status).toBe(200);
  });

  it("counts wrong passwords down with attemptsLeft", async () => {
    const { hans } = await chat.users("hans");
    const first = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(first.attemptsLeft).toBe(2);
    const second = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(second.attemptsLeft).toBe(1);
  });

  it("locks the username on the third wrong password and says when to retry", async () => {
    const { hans } = await chat.users("hans");
    await attempt(hans, "wrong");
    await attempt(hans, "wrong");
    const response = await attempt(hans, "wrong");
    const body = await expectProblem(response, 423, "account_locked", NOW_LOCKED);
    expect(body.retryAfter).toEqual(expect.any(Number));
    expect(body.retryAfter).toBeGreaterThanOrEqual(1);
    expect(body.retryAfter).toBeLessThanOrEqual(60);
    expect(response.headers.get("retry-after")).toBe(String(body.retryAfter));
    expect(body).not.toHaveProperty("attemptsLeft");
  });

  it("refuses the right password during the lock", async () => {
    const { hans } = await chat.users("hans");
    for (let i = 0; i < 3; i++) await attempt(hans, "wrong");
    const response = await attempt(hans, passwordOf(hans));
    const body = await expectProblem(response, 423, "account_locked", LOCKED);
    expect(body.retryAfter).toBeGreaterThanOrEqual(1);
    expect(response.headers.get("retry-after")).toBe(String(body.retryAfter));
    await expectProblem(await attempt(hans, "wrong"), 423, "account_locked", LOCKED);
    await expectProblem(await attempt(hans, passwordOf(hans)), 423, "account_locked", LOCKED);
  });

  it("locks only the username whose password was wrong", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    for (let i = 0; i < 3; i++) await attempt(hans, "wrong");
    expect((await attempt(luke, passwordOf(luke))).status).toBe(200);
    const wrongForLuke = await expectProblem(await attempt(luke, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(wrongForLuke.attemptsLeft).toBe(2);
  });

  it("resets the count after a successful login", async () => {
    const { hans } = await chat.users("hans");
    await attempt(hans, "wrong");
    await attempt(hans, "wrong");
    const success = await attempt(hans, passwordOf(hans));
    expect(success.status).toBe(200);
    await logout(((await success.json()) as { token: string }).token);

    const first = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(first.attemptsLeft).toBe(2);
    const second = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(second.attemptsLeft).toBe(1);
    expect((await attempt(hans, passwordOf(hans))).status).toBe(200);
  });

  it("does not count malformed login requests as wrong passwords", async () => {
    const { hans } = await chat.users("hans");
    await expectValidationError(await chat.request("POST", "/login", { json: { username: hans } }), "password");
    await expectValidationError(await attempt(hans, ""), "password");
    await expectValidationError(await attempt(hans, "wrong", { remember: true }));
    const wrong = await expectProblem(await attempt(hans, "wrong"), 401, "invalid_credentials", WRONG_PASSWORD);
    expect(wrong.attemptsLeft).toBe(2);
  });

  it("rejects a p2pPort outside 1..65535", async () => {
    const { hans } = await chat.users("hans");
    await expectValidationError(await attempt(hans, passwordOf(hans), { p2pPort: 70000 }), "p2pPort");
    await expectValidationError(await attempt(hans, passwordOf(hans), { p2pPort: 0 }), "p2pPort");
    await expectValidationError(await attempt(hans, passwordOf(hans), { p2pPort: "50000" }), "p2pPort");
    expect((await attempt(hans, passwordOf(hans), { p2pPort: 50000 })).status).toBe(200);
  });

  it.each([
    ["an IPv4 address", "192.0.2.10"],
    ["an IPv6 address", "2001:db8::1"],
  ])("accepts %s as p2pHost and hands exactly that to peers", async (_kind, p2pHost) => {
    const { hans, luke } = await chat.users("hans", "luke");
    await chat.login(luke, { p2pHost, p2pPort: 50000 });
    const response = await chat.request("POST", `/private/${luke}`, { token: await chat.login(hans) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ address: { host: p2pHost, port: 50000 } });
  });

  it.each([
    ["a host name", "localhost"],
    ["a domain name", "peer.example.com"],
    ["a host and port", "169.254.169.254:6379"],
    ["a bracketed IPv6 address", "[::1]"],
    ["an IPv6 address with a zone", "fe80::1%eth0"],
    ["an address followed by CR LF", "10.0.0.1\r\nX-Injected: yes"],
    ["an address with a leading zero", "010.0.0.1"],
    ["an empty string", ""],
    ["a number", 3232235777],
  ])("refuses %s as p2pHost with 400 and starts no session", async (_kind, p2pHost) => {
    const { hans } = await chat.users("hans");
    const body = await expectValidationError(await attempt(hans, passwordOf(hans), { p2pHost, p2pPort: 6379 }), "p2pHost");
    if (typeof p2pHost === "string") {
      expect(body.errors).toContainEqual({ path: "p2pHost", message: expect.stringContaining("IPv4 or IPv6 address") });
    }
    const [opened] = await queryRows<{ count: number }>(
      chat.db,
      sql`select count(*)::int as count from ${sessions} where username = ${hans}`,
    );
    expect(opened?.count).toBe(0);
    expect((await attempt(hans, passwordOf(hans))).status).toBe(200); // not locked, not logged in
  });

  it("rejects an unknown username without attemptsLeft and never locks it", async () => {
    const { hans } = await chat.users("hans");
    const stranger = `${hans}_stranger`;
    for (let i = 0; i < 4; i++) {
      const body = await expectProblem(await attempt(stranger, "whatever"), 401, "invalid_credentials");
      expect(body).not.toHaveProperty("attemptsLeft");
      expect(body).not.toHaveProperty("retryAfter");
    }
  });

  it("refuses a second login while the first session is live, and allows it after logout", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await attempt(hans, passwordOf(hans)), 409, "already_logged_in");
    expect((await whoElse(token)).status).toBe(200);

    await logout(token);
    const again = await attempt(hans, passwordOf(hans));
    expect(again.status).toBe(200);
  });

  it("does not count a refused second login towards the lock", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    for (let i = 0; i < 3; i++) await expectProblem(await attempt(hans, passwordOf(hans)), 409, "already_logged_in");
    await logout(token);
    expect((await attempt(hans, passwordOf(hans))).status).toBe(200);
  });

  it("counts simultaneous wrong passwords one by one", async () => {
    const { hans } = await chat.users("hans");
    const responses = await Promise.all([1, 2, 3, 4].map(() => attempt(hans, "wrong")));
    const outcomes = await Promise.all(
      responses.map(async (response) => {
        const body = (await response.json()) as { detail: string; attemptsLeft?: number };
        return `${response.status} ${body.attemptsLeft ?? "-"} ${body.detail}`;
      }),
    );
    expect(outcomes.sort()).toEqual(
      [`401 1 ${WRONG_PASSWORD}`, `401 2 ${WRONG_PASSWORD}`, `423 - ${NOW_LOCKED}`, `423 - ${LOCKED}`].sort(),
    );
  });

  it("lets exactly one of simultaneous logins in", async () => {
    const { hans } = await chat.users("hans");
    const responses = await Promise.all([1, 2, 3].map(() => attempt(hans, passwordOf(hans))));
    expect(responses.map((response) => response.status).sort()).toEqual([200, 409, 409]);
    for (const response of responses.filter((response) => response.status === 409)) {
      await expectProblem(response, 409, "already_logged_in");
    }
  });
});

describe("POST /logout", () => {
  it("ends the session so the token gets 401 unauthorized", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const response = await chat.request("POST", "/logout", { token });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    await expectUnauthorized(await whoElse(token));
    await expectUnauthorized(await chat.request("POST", "/logout", { token }));
    await expectUnauthorized(await chat.request("GET", "/events", { token }));
  });

  it("tells the session's event stream session_ended and closes it", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const stream = await streams.open(token);
    await logout(token);
    expect((await stream.next("session_ended")).data).toEqual({ reason: "logout" });
    await stream.closed();
  });
});

describe("bearer tokens", () => {
  /** A live session's claims, to forge tokens that differ from a real one in one way only. */
  async function liveClaims() {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const claims = decodeJwt(token);
    return { hans, luke, token, sessionId: claims.sid as string };
  }

  it("rejects a request without a token", async () => {
    await expectUnauthorized(await chat.request("GET", "/users/online"));
    await expectUnauthorized(await chat.request("GET", "/blocks"));
    await expectUnauthorized(await chat.request("POST", "/messages", { json: { to: "luke", text: "hi" } }));
  });

  it("rejects a token that is not a JWT or sent with another scheme", async () => {
    const { token } = await liveClaims();
    await expectUnauthorized(await chat.request("GET", "/users/online", { token: "not-a-jwt" }));
    await expectUnauthorized(await chat.request("GET", "/users/online", { headers: { authorization: `Basic ${token}` } }));
  });

  it("rejects a token signed with another secret, even for a live session", async () => {
    const { hans, sessionId } = await liveClaims();
    const forged = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(hans)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("a-completely-different-secret-of-32+chars"));
    await expectUnauthorized(await chat.request("GET", "/users/online", { token: forged }));
  });

  it("rejects a well-signed token whose session id is not a bare UUID, without asking the database", async () => {
    const { hans, sessionId } = await liveClaims();
    const secret = await loadSigningSecret(chat.db);
    for (const sid of [`${sessionId}0`, `0${sessionId}`, `${sessionId.slice(0, 35)}'`]) {
      const forged = await new SignJWT({ sid })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(hans)
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(secret);
      await expectUnauthorized(await chat.request("GET", "/users/online", { token: forged }));
    }
  });

  it("rejects an unsigned (alg none) token", async () => {
    const { hans, sessionId } = await liveClaims();
    const unsigned = new UnsecuredJWT({ sid: sessionId }).setSubject(hans).setIssuedAt().setExpirationTime("1h").encode();
    await expectUnauthorized(await chat.request("GET", "/users/online", { token: unsigned }));
  });

  it("rejects a well-signed token naming another user than its session's", async () => {
    const { luke, sessionId } = await liveClaims();
    const { token } = await chat.context.tokens.issue({ sessionId, username: luke });
    await expectUnauthorized(await chat.request("GET", "/users/online", { token }));
  });

  it("rejects an expired token even while its session is live", async () => {
    const { hans, sessionId } = await liveClaims();
    const secret = await loadSigningSecret(chat.db);
    const expired = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(hans)
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(secret);
    await expectUnauthorized(await chat.request("GET", "/users/online", { token: expired }));
  });

  it("takes ?access_token= only on the event stream", async () => {
    const { token } = await liveClaims();
    await expectUnauthorized(await chat.request("GET", `/users/online?access_token=${token}`));
    const stream = await chat.request("GET", `/events?access_token=${token}`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await stream.body?.cancel();
  });
});
