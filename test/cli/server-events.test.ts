import { describe, expect, it } from "vitest";
import { parseServerEvent } from "../../src/cli/server-events.js";
import { presenceLine, deliveryLine } from "../../src/cli/notices.js";

describe("events from the server", () => {
  it("reads deliveries and prints them as the original client did", () => {
    const data = '{"id":"7","from":"hans","to":"luke","text":"Hey Dude","sentAt":"2025-01-01T00:00:00Z"}';
    const message = parseServerEvent("message", data);
    expect(message).toEqual({ type: "message", from: "hans", text: "Hey Dude" });
    expect(deliveryLine("hans", "Hey Dude")).toBe("hans: Hey Dude");
    expect(presenceLine("luke", "online")).toBe("luke logged in");
    expect(presenceLine("yoda", "offline")).toBe("yoda logged out");
  });

  it("reads the private session and session events", () => {
    const secret = "q3Xk0yqT7d2oXyq8o1mBzJ9pR4vN6sWc5eLhAaF0uGk";
    const address = { host: "127.0.0.1", port: 5000 };
    expect(parseServerEvent("private_started", JSON.stringify({ from: "hans", address, secret }))).toEqual({
      type: "private_started",
      from: "hans",
      address,
      secret,
    });
    expect(parseServerEvent("private_started", JSON.stringify({ from: "hans", address: null, secret }))).toEqual({
      type: "private_started",
      from: "hans",
      address: null,
      secret,
    });
    // Without the session's secret no caller could be checked: such a notice lets nobody in.
    expect(parseServerEvent("private_started", JSON.stringify({ from: "hans", address }))).toBeUndefined();
    expect(parseServerEvent("private_started", JSON.stringify({ from: "hans", address, secret: "short" }))).toBeUndefined();
    expect(parseServerEvent("private_stopped", '{"from":"hans","reason":"timeout"}')).toEqual({
      type: "private_stopped",
      from: "hans",
      reason: "timeout",
    });
    expect(parseServerEvent("session_ended", '{"reason":"timeout"}')).toEqual({
      type: "session_ended",
      reason: "timeout",
    });
  });

  it("ignores unknown events and data of the wrong shape", () => {
    expect(parseServerEvent("typing", '{"from":"hans"}')).toBeUndefined();
    expect(parseServerEvent("message", "not json")).toBeUndefined();
    expect(parseServerEvent("message", '{"from":"hans"}')).toBeUndefined();
    expect(parseServerEvent("presence", '{"username":"luke","status":"away"}')).toBeUndefined();
  });
});
