import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

describe("a message between two online users", () => {
  it("reaches the recipient's stream", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const stream = await chat.events(lukeToken);
    const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "Hey Dude" } });
    expect(sent.status).toBe(201);
    const event = await stream.next("message");
    expect(event.data).toMatchObject({ from: hans, to: luke, text: "Hey Dude" });
    await stream.close();
  });
});
