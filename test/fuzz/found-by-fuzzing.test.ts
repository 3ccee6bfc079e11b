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

describe("a lone surrogate anywhere in a request (the campaign's 500 on POST /messages)", () => {
  it("is refused with 400 in every JSON field, query value and header, before anything reaches the database", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const before = await stateCounts(chat.db);
    const json = { "content-type": "application/json" };
    const cases: [Response, string][] = [
      [await chat.request("POST", "/messages", { token, body: '{"to":"\\ud800","text":"hi"}', headers: json }), "to"],
      [await chat.request("POST", "/login", { body: '{"username":"\\ud800","password":"x"}', headers: json }), "username"],
      [
        await chat.request("POST", "/login", { body: `{"username":"${luke}","password":"a\\udc00b"}`, headers: json }),
        "password",
      ],
      [
        await chat.request("POST", "/login", {
          body: `{"username":"${luke}","password":"${luke}-pw","p2pPort":5000,"p2pHost":"\\udbff"}`,
          headers: json,
        }),
        "p2pHost",
      ],
    ];
    for (const [response, field] of cases) await expectValidationError(response, field);
    expect(await stateCounts(chat.db)).toEqual(before);
  });
});

describe("a username that breaks the one rule (1 to 32 of A-Z a-z 0-9 . _ -)", () => {
  const malformed = ["a\u0001b", "line\nbreak", "tab\there", "two words", "\u001B[31m", "\u0085", "x".repeat(33), "é"];

  it("is 400 validation_error in a body, never 404 unknown_user or 401 invalid_credentials", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const before = await stateCounts(chat.db);
    for (const name of malformed) {
      await expectValidationError(await chat.request("POST", "/messages", { token, json: { to: name, text: "hi" } }), "to");
      await expectValidationError(await chat.request("POST", "/login", { json: { username: name, password: "x" } }), "username");
    }
    expect(await stateCounts(chat.db)).toEqual(before);
  });

  it("is 400 validation_error in a path or a query, also when its percent-encoding is not UTF-8", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const before = await stateCounts(chat.db);
    const segments = [...malformed.map(encodeURIComponent), "%ED%A0%80", "a%ED%B0%80b", "%C0%AF", "%zz"];
    for (const segment of segments) {
      for (const [method, path] of [
        ["PUT", `/blocks/${segment}`],
        ["DELETE", `/blocks/${segment}`],
        ["POST", `/private/${segment}`],
        ["DELETE", `/private/${segment}`],
      ] as const) {
        await expectValidationError(await chat.request(method, path, { token }), "username");
      }
      await expectValidationError(await chat.request("GET", `/messages?with=${segment}`, { token }), "with");
    }
    expect(await stateCounts(chat.db)).toEqual(before);
  });
});
