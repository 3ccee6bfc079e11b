import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

describe("the app's router", () => {
  // hono's SmartRouter picks its router at the first request: RegExpRouter matches with one
  // prebuilt expression, and a path it cannot take (a fixed segment beside a parameter in the same
  // place, say) silently sends every request through the TrieRouter, which allocates per match.
  it("is hono's RegExpRouter: every route's path fits it", async () => {
    expect((await chat.request("GET", "/health")).status).toBe(200);
    expect(chat.app.router.name).toBe("SmartRouter + RegExpRouter");
  });
});
