import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTokens } from "../../src/chat/tokens.js";

const secret = (text: string) => new TextEncoder().encode(text);
const claims = { sessionId: "6f1d2c3e-0000-4000-8000-000000000001", username: "hans" };

afterEach(() => vi.useRealTimers());

describe("tokens", () => {
  it("verify what they issued, again and again", async () => {
    const tokens = await createTokens(secret("one secret"));
    const { token } = await tokens.issue(claims);
    expect(await tokens.verify(token)).toEqual(claims);
    expect(await tokens.verify(token)).toEqual(claims);
  });

  it("refuse a token signed with another secret, or altered", async () => {
    const ours = await createTokens(secret("one secret"));
    const theirs = await createTokens(secret("another secret"));
    const { token } = await theirs.issue(claims);
    expect(await ours.verify(token)).toBeUndefined();
    const { token: good } = await ours.issue(claims);
    const [header, , signature] = good.split(".");
    const forged = Buffer.from(JSON.stringify({ sid: claims.sessionId, sub: "leia", exp: 4_000_000_000 })).toString("base64url");
    expect(await ours.verify(`${header}.${forged}.${signature}`)).toBeUndefined();
  });

  it("refuse a token once it expired, even one verified before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const tokens = await createTokens(secret("one secret"));
    const { token, expiresAt } = await tokens.issue(claims);
    expect(await tokens.verify(token)).toEqual(claims);
    vi.setSystemTime(expiresAt.getTime() + 1000);
    expect(await tokens.verify(token)).toBeUndefined();
  });

  it("refuse a verified token from the very millisecond it expires", async () => {
    // Issued on a whole second, so the token's expiry (in whole seconds) is exactly expiresAt.
    vi.useFakeTimers({ toFake: ["Date"], now: 1_800_000_000_000 });
    const tokens = await createTokens(secret("one secret"));
    const { token, expiresAt } = await tokens.issue(claims);
    expect(await tokens.verify(token)).toEqual(claims);
    vi.setSystemTime(expiresAt.getTime() - 1);
    expect(await tokens.verify(token)).toEqual(claims);
    vi.setSystemTime(expiresAt.getTime());
    expect(await tokens.verify(token)).toBeUndefined();
  });
});

describe("an issued token", () => {
  it("is an HS256 JWT naming the user and the session, valid for 24 hours", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-01T10:00:00.400Z"));
    const tokens = await createTokens(secret("one secret"));
    const { token, expiresAt } = await tokens.issue(claims);
    expect(expiresAt.toISOString()).toBe("2026-12-02T10:00:00.400Z");
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decodeJwt(token)).toEqual({
      sid: claims.sessionId,
      sub: claims.username,
      iat: Date.parse("2026-12-01T10:00:00Z") / 1000,
      exp: Date.parse("2026-12-02T10:00:00Z") / 1000,
    });
    vi.setSystemTime(new Date("2026-12-02T09:59:59Z"));
    expect(await tokens.verify(token)).toEqual(claims);
  });
});

describe("verify", () => {
  const sign = (payload: Record<string, unknown>, alg = "HS256") => {
    const jwt = new SignJWT(payload).setProtectedHeader({ alg });
    return jwt.sign(secret("one secret"));
  };

  it("refuses a well-signed token without a session, a user or an expiry, or with them of the wrong type", async () => {
    const tokens = await createTokens(secret("one secret"));
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const good = { sid: claims.sessionId, sub: claims.username, exp };
    expect(await tokens.verify(await sign(good))).toEqual(claims);
    for (const payload of [
      { sub: claims.username, exp },
      { sid: claims.sessionId, exp },
      { sid: claims.sessionId, sub: claims.username },
      { ...good, sid: 7 },
    ]) {
      expect(await tokens.verify(await sign(payload)), JSON.stringify(payload)).toBeUndefined();
    }
  });

  it("refuses a token signed with the right secret by another algorithm", async () => {
    const tokens = await createTokens(secret("one secret"));
    const token = await sign({ sid: claims.sessionId, sub: claims.username, exp: Math.floor(Date.now() / 1000) + 3600 }, "HS512");
    expect(await tokens.verify(token)).toBeUndefined();
  });
});
