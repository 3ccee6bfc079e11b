import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";

const PAGE = "http://page.example:8080";

let chat: TestChat;
let closedChat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({}, { corsOrigins: [PAGE, "https://other.example"] });
  closedChat = await createTestChat();
});
afterAll(async () => {
  await chat.close();
  await closedChat.close();
});

const listOf = (header: string | null) => (header ?? "").split(",").map((item) => item.trim().toLowerCase());

describe("CORS for the configured origins", () => {
  it("answers a preflight for a JSON login and for authenticated calls", async () => {
    const response = await chat.request("OPTIONS", "/login", {
      headers: { origin: PAGE, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(listOf(response.headers.get("access-control-allow-methods"))).toEqual(
      expect.arrayContaining(["get", "post", "put", "delete"]),
    );
    expect(listOf(response.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type", "last-event-id"]),
    );
    expect(response.headers.get("vary")).toMatch(/origin/i);
  });

  it("lets the page read the response, Retry-After and X-Request-Id included", async () => {
    const { hans } = await chat.users("hans");
    for (let attempt = 0; attempt < 2; attempt++) {
      await chat.request("POST", "/login", { json: { username: hans, password: "wrong" }, headers: { origin: PAGE } });
    }
    const locked = await chat.request("POST", "/login", {
      json: { username: hans, password: "wrong" },
      headers: { origin: PAGE },
    });
    expect(locked.status).toBe(423);
    expect(locked.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(listOf(locked.headers.get("access-control-expose-headers"))).toEqual(
      expect.arrayContaining(["retry-after", "x-request-id"]),
    );
    expect(locked.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("lets the page open the event stream with the token in the query", async () => {
    const { luke } = await chat.users("luke");
    const token = await chat.login(luke);
    const response = await chat.request("GET", `/events?access_token=${encodeURIComponent(token)}`, {
      headers: { origin: PAGE },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(PAGE);
    await response.body?.cancel();
  });

  it("gives other origins nothing", async () => {
    const response = await chat.request("GET", "/health", { headers: { origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("without configured origins", () => {
  it("sends no CORS headers and answers no preflight", async () => {
    const simple = await closedChat.request("GET", "/health", { headers: { origin: PAGE } });
    expect(simple.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await closedChat.request("OPTIONS", "/login", {
      headers: { origin: PAGE, "access-control-request-method": "POST" },
    });
    expect(preflight.status).not.toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });
});
