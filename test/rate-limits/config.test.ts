import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("rate limit settings", () => {
  it("default to limits that normal use never meets", () => {
    expect(loadConfig([], {})).toMatchObject({
      rateLimitPerUser: 6000,
      rateLimitPerAddress: 12000,
      loginRateLimitPerUsername: 60,
      loginRateLimitPerAddress: 600,
    });
  });

  it("come from flags, then the environment", () => {
    const config = loadConfig(["--rate-limit", "100", "--login-rate-limit", "0"], {
      RATE_LIMIT: "7",
      ADDRESS_RATE_LIMIT: "50",
      LOGIN_ADDRESS_RATE_LIMIT: "9",
    });
    expect(config).toMatchObject({
      rateLimitPerUser: 100,
      rateLimitPerAddress: 50,
      loginRateLimitPerUsername: 0,
      loginRateLimitPerAddress: 9,
    });
    expect(loadConfig(["--address-rate-limit", "5", "--login-address-rate-limit", "6"], {})).toMatchObject({
      rateLimitPerAddress: 5,
      loginRateLimitPerAddress: 6,
    });
  });

  it.each([["-1"], ["1.5"], ["lots"]])("refuse %s", (value) => {
    expect(() => loadConfig(["--rate-limit", value], {})).toThrow(ConfigError);
    expect(() => loadConfig([], { LOGIN_RATE_LIMIT: value })).toThrow(/login-rate-limit/);
  });
});
