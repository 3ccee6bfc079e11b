import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("--log-level / LOG_LEVEL", () => {
  it("defaults to info, takes the variable, and the flag wins", () => {
    expect(loadConfig([], {}).logLevel).toBe("info");
    expect(loadConfig([], { LOG_LEVEL: "debug" }).logLevel).toBe("debug");
    expect(loadConfig(["--log-level", "warn"], { LOG_LEVEL: "debug" }).logLevel).toBe("warn");
  });

  it("refuses a level that does not exist, naming the choices", () => {
    expect(() => loadConfig(["--log-level", "loud"], {})).toThrow(ConfigError);
    expect(() => loadConfig([], { LOG_LEVEL: "loud" })).toThrow(
      /log-level must be one of fatal, error, warn, info, debug, trace, silent/,
    );
  });
});

describe("--cors-origin / CORS_ORIGINS", () => {
  it("allows no origin by default", () => {
    expect(loadConfig([], {}).corsOrigins).toEqual([]);
  });

  it("takes a list from the variable, and repeated or comma-separated flags that win over it", () => {
    expect(loadConfig([], { CORS_ORIGINS: "https://a.example, http://localhost:5173" }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:5173",
    ]);
    expect(
      loadConfig(["--cors-origin", "https://b.example", "--cors-origin", "https://c.example,https://d.example/"], {
        CORS_ORIGINS: "https://a.example",
      }).corsOrigins,
    ).toEqual(["https://b.example", "https://c.example", "https://d.example"]);
    expect(loadConfig(["--cors-origin", "*"], {}).corsOrigins).toEqual(["*"]);
  });

  it("refuses something that is not an origin", () => {
    expect(() => loadConfig(["--cors-origin", "https://a.example/app"], {})).toThrow(
      /cors-origin "https:\/\/a.example\/app" must be an origin/,
    );
    expect(() => loadConfig([], { CORS_ORIGINS: "a.example" })).toThrow(ConfigError);
  });

  it("lists both options in the usage text", () => {
    expect(() => loadConfig(["--help"], {})).toThrow(
      /--log-level <level>[\s\S]*LOG_LEVEL[\s\S]*--cors-origin <origin>[\s\S]*CORS_ORIGINS/,
    );
  });
});
