import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { sendMessage } from "./helpers.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

/** Reads a raw event stream until it holds a whole frame of `type` (calling `whileWaiting` once it is open); answers that frame's text. */
async function rawFrame(response: Response, type: string, whileWaiting?: () => unknown): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let started = false;
  const pattern = new RegExp(`(?:^|\\n\\n)(id: \\d+\\nevent: ${type}\\ndata: [^\\n]*\\n\\n)`);
  for (;;) {
    const match = pattern.exec(text);
    if (match) {
      await reader.cancel();
      return match[1]!;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before a ${type} frame`);
    text += decoder.decode(value, { stream: true });
    // The stream is attached once its first bytes arrive: what is sent now goes out live.
    if (!started) void Promise.resolve(whileWaiting?.());
    started = true;
  }
}

describe("event frames", () => {
  it("replays a message as the same bytes it was sent live", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const live = await rawFrame(await chat.request("GET", "/events", { token: lukeToken }), "message", () =>
      sendMessage(chat, hansToken, luke, "Hey Dude"),
    );
    const id = Number(/^id: (\d+)/.exec(live)![1]);
    const replayed = await rawFrame(
      await chat.request("GET", "/events", { token: lukeToken, headers: { "last-event-id": String(id - 1) } }),
      "message",
    );
    expect(replayed).toBe(live);
    expect(live).toMatch(
      /^id: \d+\nevent: message\ndata: \{"id":\d+,"from":"[^"]+","to":"[^"]+","text":"Hey Dude","sentAt":"[^"]+"\}\n\n$/,
    );
  });

  it("replays a broadcast as the same bytes it was sent live", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const live = await rawFrame(await chat.request("GET", "/events", { token: lukeToken }), "broadcast", () =>
      chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "Hello all" } }),
    );
    const id = Number(/^id: (\d+)/.exec(live)![1]);
    const replayed = await rawFrame(
      await chat.request("GET", "/events", { token: lukeToken, headers: { "last-event-id": String(id - 1) } }),
      "broadcast",
    );
    expect(replayed).toBe(live);
    await chat.endAllSessions();
  });
});
