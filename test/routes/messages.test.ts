import { describe, expect, it } from "vitest";
import type { TestChat } from "../support/chat.js";
import { expectProblem, expectValidationError, sharedChat } from "../support/http.js";

type SentMessage = { id: number; from: string; to: string; text: string; sentAt: string; delivery: string };
type History = { messages: Omit<SentMessage, "delivery">[]; nextBefore: number | null };

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

const send = (token: string, to: string, text: string) => chat.request("POST", "/messages", { token, json: { to, text } });

async function sent(token: string, to: string, text: string): Promise<SentMessage> {
  const response = await send(token, to, text);
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as SentMessage;
}

async function history(token: string, query = ""): Promise<History> {
  const response = await chat.request("GET", `/messages${query}`, { token });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as History;
}

const texts = (page: History) => page.messages.map((message) => message.text);

describe("POST /messages", () => {
  it("delivers to an online recipient at once and says delivered", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));

    const response = await send(hansToken, luke, "Hey Dude");
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await response.json()) as SentMessage;
    expect(body).toEqual({
      id: expect.any(Number),
      from: hans,
      to: luke,
      text: "Hey Dude",
      sentAt: expect.any(String),
      delivery: "delivered",
    });
    expect(new Date(body.sentAt).toISOString()).toBe(body.sentAt);

    const event = await lukeStream.next("message");
    expect(event.id).toEqual(expect.stringMatching(/^\d+$/));
    const { delivery: _delivery, ...view } = body;
    expect(event.data).toEqual(view);
  });

  it("stores a message for an offline recipient and delivers it first at their next login", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const message = await sent(hansToken, luke, "see you later");
    expect(message.delivery).toBe("stored");

    const lukeStream = await streams.open(await chat.login(luke));
    const event = await lukeStream.next("message");
    expect(event.data).toEqual({ id: message.id, from: hans, to: luke, text: "see you later", sentAt: message.sentAt });
  });

  it("counts a recipient who logged in and then out as offline: stored, delivered at their next stream", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    expect((await chat.request("POST", "/logout", { token: await chat.login(luke) })).status).toBe(204);

    const message = await sent(hansToken, luke, "are you gone?");
    expect(message.delivery).toBe("stored");
    const lukeStream = await streams.open(await chat.login(luke));
    expect((await lukeStream.next("message")).data).toMatchObject({ id: message.id, text: "are you gone?" });
  });

  it("refuses a message to yourself and stores nothing", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await send(token, hans, "talking to myself"), 422, "self_target");
    expect((await history(token)).messages).toEqual([]);
  });

  it("refuses an unknown recipient with Error. Invalid user", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await send(token, `${hans}_nobody`, "hello?"), 404, "unknown_user", "Error. Invalid user");
    expect((await history(token)).messages).toEqual([]);
  });

  it("refuses a message to a recipient who blocked the sender, and neither stores nor delivers it", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeToken })).status).toBe(200);
    const lukeStream = await streams.open(lukeToken);

    await expectProblem(
      await send(hansToken, luke, "are you there?"),
      403,
      "blocked",
      "Your message could not be delivered as the recipient has blocked you",
    );
    expect(await lukeStream.quietFor(300, "message")).toEqual([]);
    expect((await history(hansToken, `?with=${luke}`)).messages).toEqual([]);
    expect((await history(lukeToken)).messages).toEqual([]);
  });

  it("lets the blocker still message the user they blocked", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeToken })).status).toBe(200);
    const hansStream = await streams.open(hansToken);
    await sent(lukeToken, hans, "you cannot answer");
    expect((await hansStream.next("message")).data).toMatchObject({ from: luke, text: "you cannot answer" });
  });

  it.each([
    ["an empty text", ""],
    ["a text of only white space", "  \n\t "],
    ["a text of 4097 characters", "x".repeat(4097)],
  ])("rejects %s and neither stores nor delivers it", async (_case, text) => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    await expectValidationError(await send(hansToken, luke, text), "text");
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
    expect((await history(hansToken)).messages).toEqual([]);
  });

  it("accepts a text of exactly 4096 characters", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    const text = "y".repeat(4096);
    const message = await sent(hansToken, luke, text);
    expect(message.text).toBe(text);
    expect((await lukeStream.next("message")).data).toMatchObject({ id: message.id, text });
  });

  it("rejects unknown fields, a missing recipient and a text that is not a string", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const post = (json: unknown) => chat.request("POST", "/messages", { token, json });
    await expectValidationError(await post({ to: luke, text: "hi", priority: "high" }));
    await expectValidationError(await post({ text: "hi" }), "to");
    await expectValidationError(await post({ to: luke, text: 42 }), "text");
    await expectValidationError(await post([{ to: luke, text: "hi" }]));
    expect((await history(token)).messages).toEqual([]);
  });
});

describe("GET /messages", () => {
  it("lists the caller's messages, sent and received, newest first", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const yodaToken = await chat.login(yoda);
    await sent(hansToken, luke, "one");
    await sent(lukeToken, hans, "two");
    await sent(hansToken, yoda, "three");
    await sent(yodaToken, luke, "not for hans");

    const page = await history(hansToken);
    expect(texts(page)).toEqual(["three", "two", "one"]);
    expect(page.nextBefore).toBeNull();
    expect(page.messages[1]).toEqual({ id: expect.any(Number), from: luke, to: hans, text: "two", sentAt: expect.any(String) });
  });

  it("narrows to one conversation with `with`", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const yodaToken = await chat.login(yoda);
    await sent(hansToken, luke, "one");
    await sent(lukeToken, hans, "two");
    await sent(hansToken, yoda, "three");
    await sent(yodaToken, luke, "four");

    expect(texts(await history(hansToken, `?with=${luke}`))).toEqual(["two", "one"]);
    expect(texts(await history(lukeToken, `?with=${hans}`))).toEqual(["two", "one"]);
    expect(texts(await history(hansToken, `?with=${yoda}`))).toEqual(["three"]);
    expect(texts(await history(yodaToken, `?with=${hans}`))).toEqual(["three"]);
  });

  it("pages with before and limit, handing back nextBefore until the last page", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    for (const text of ["m1", "m2", "m3", "m4", "m5"]) await sent(hansToken, luke, text);

    const first = await history(hansToken, `?with=${luke}&limit=2`);
    expect(texts(first)).toEqual(["m5", "m4"]);
    expect(first.nextBefore).toBe(first.messages[1]!.id);

    const second = await history(hansToken, `?with=${luke}&limit=2&before=${first.nextBefore}`);
    expect(texts(second)).toEqual(["m3", "m2"]);
    expect(second.nextBefore).toBe(second.messages[1]!.id);

    const last = await history(hansToken, `?with=${luke}&limit=2&before=${second.nextBefore}`);
    expect(texts(last)).toEqual(["m1"]);
    expect(last.nextBefore).toBeNull();
  });

  it("refuses history with an unknown user", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(
      await chat.request("GET", `/messages?with=${hans}_nobody`, { token }),
      404,
      "unknown_user",
      "Error. Invalid user",
    );
  });

  it("rejects a limit outside 1..200 and a before that is not a positive whole number", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const get = (query: string) => chat.request("GET", `/messages${query}`, { token });
    await expectValidationError(await get("?limit=0"), "limit");
    await expectValidationError(await get("?limit=201"), "limit");
    await expectValidationError(await get("?limit=ten"), "limit");
    await expectValidationError(await get("?before=abc"), "before");
    await expectValidationError(await get("?before=0"), "before");
    expect((await get("?limit=200")).status).toBe(200);
  });
});
