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
});
