import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { expectValidationError } from "../support/http.js";
import { stateCounts } from "./support.js";

// Cases the property tests found, kept as plain examples so they stay fixed.

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

describe("a NUL character (U+0000), which PostgreSQL text cannot hold", () => {
  it("is refused with 400 wherever it would reach the database", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const before = await stateCounts(chat.db);
    const cases: [string, string, unknown, string][] = [
      ["POST", "/messages", { to: "a\u0000b", text: "hi" }, "to"],
      ["POST", "/messages", { to: luke, text: "h\u0000i" }, "text"],
      ["POST", "/broadcasts", { text: "h\u0000i" }, "text"],
      ["POST", "/login", { username: "a\u0000b", password: "x" }, "username"],
      ["POST", "/login", { username: luke, password: `${luke}-pw`, p2pPort: 5000, p2pHost: "h\u0000" }, "p2pHost"],
      ["PUT", "/blocks/a%00b", undefined, "username"],
      ["DELETE", "/blocks/a%00b", undefined, "username"],
      ["POST", "/private/a%00b", undefined, "username"],
      ["DELETE", "/private/a%00b", undefined, "username"],
      ["GET", "/messages?with=a%00b", undefined, "with"],
    ];
    for (const [method, path, json, field] of cases) {
      await expectValidationError(await chat.request(method, path, { token, json }), field);
    }
    expect(await stateCounts(chat.db)).toEqual(before);
  });
});

describe("a lone surrogate, which the JSON columns of the event log cannot hold", () => {
  it("is refused with 400 in a message or broadcast text, while a well-formed pair is fine", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const before = await stateCounts(chat.db);
    const send = (path: string, body: string) =>
      chat.request("POST", path, { token, body, headers: { "content-type": "application/json" } });
    await expectValidationError(await send("/messages", `{"to":"${luke}","text":"a\\ud800b"}`), "text");
    await expectValidationError(await send("/messages", `{"to":"${luke}","text":"a\\udc00"}`), "text");
    await expectValidationError(await send("/broadcasts", `{"text":"\\ud83d"}`), "text");
    expect(await stateCounts(chat.db)).toEqual(before);

    const emoji = await send("/messages", `{"to":"${luke}","text":"\\ud83d\\ude00"}`);
    expect(emoji.status).toBe(201);
    expect((await emoji.json()).text).toBe("\u{1F600}");
  });
});
