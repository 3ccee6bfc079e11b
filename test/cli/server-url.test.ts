import { describe, expect, it } from "vitest";
import { serverUrlFromArgs } from "../../src/cli/server-url.js";

describe("the client's [host] [port] arguments", () => {
  it("defaults to 127.0.0.1 port 4000", () => {
    expect(serverUrlFromArgs([])).toBe("http://127.0.0.1:4000");
  });

  it("takes a host and a port", () => {
    expect(serverUrlFromArgs(["chat.example.org", "8080"])).toBe("http://chat.example.org:8080");
    expect(serverUrlFromArgs(["::1", "4000"])).toBe("http://[::1]:4000");
  });

  it.each([[["localhost", "port"]], [["localhost", "70000"]], [["a", "1", "extra"]], [["--verbose"]]])("refuses %j", (args) => {
    expect(() => serverUrlFromArgs(args)).toThrow();
  });
});
