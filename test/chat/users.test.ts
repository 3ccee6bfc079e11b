import { describe, expect, it } from "vitest";
import { byName } from "../../src/chat/users.js";

describe("byName", () => {
  it("orders usernames by code point, whatever order they came in and whatever a locale would say", () => {
    const names = ["zed", "anna", "Bob", "_x", "9lives", "anna.b", "Zed", "anna-b"];
    // A locale's order would put "anna" before "Bob" and ignore case; code-point order does not.
    expect([...names].sort(byName)).toEqual(["9lives", "Bob", "Zed", "_x", "anna", "anna-b", "anna.b", "zed"]);
    expect([...names].reverse().sort(byName)).toEqual([...names].sort(byName));
    expect(byName("anna", "anna")).toBe(0);
  });
});
