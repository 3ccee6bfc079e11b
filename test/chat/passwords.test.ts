import { describe, expect, it } from "vitest";
import { hashCost, hashPassword, verifyPassword } from "../../src/chat/passwords.js";
import { loadConfig } from "../../src/config.js";

describe("password hashes", () => {
  it("are made at N = 2^17 by default, as OWASP recommends for scrypt (r = 8, p = 1)", () => {
    expect(loadConfig([], {}).passwordHashCost).toBe(2 ** 17);
  });

  it("hash and verify at the default cost without hitting scrypt's memory bound", { timeout: 30_000 }, async () => {
    const cost = loadConfig([], {}).passwordHashCost;
    const stored = await hashPassword("falcon", cost);
    expect(hashCost(stored)).toBe(cost);
    expect(await verifyPassword("falcon", stored)).toBe(true);
    expect(await verifyPassword("falcoN", stored)).toBe(false);
  });

  it("verify a hash made at a lower cost with the cost it records (tests and benchmarks use one)", async () => {
    const stored = await hashPassword("lightsaber", 1024);
    expect(stored).toMatch(/^scrypt\$1024\$/);
    expect(await verifyPassword("lightsaber", stored)).toBe(true);
  });
});

describe("verifyPassword", () => {
  it("matches nothing against a disabled or malformed stored hash, and never throws", async () => {
    const stored = await hashPassword("falcon", 1024);
    const [, cost, salt, key] = stored.split("$");
    for (const broken of [
      "!",
      "",
      `bcrypt$${cost}$${salt}$${key}`,
      `scrypt$$${salt}$${key}`,
      `scrypt$${cost}$$${key}`,
      `scrypt$${cost}$${salt}$`,
      `scrypt$${cost}$${salt}`,
      `scrypt$${cost}$${salt}$${key!.slice(0, 20)}`,
    ]) {
      expect(await verifyPassword("falcon", broken), broken).toBe(false);
    }
    expect(await verifyPassword("falcon", stored)).toBe(true);
  });
});
