import { describe, expect, it } from "vitest";
import type { TestChat } from "../support/chat.js";
import { expectValidationError, sharedChat } from "../support/http.js";

type BroadcastResult = {
  id: number;
  from: string;
  text: string;
  sentAt: string;
  recipients: number;
  allDelivered: boolean;
  detail?: string;
};

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

const broadcast = (token: string, text: string) => chat.request("POST", "/broadcasts", { token, json: { text } });

async function broadcastOk(token: string, text: string): Promise<BroadcastResult> {
  const response = await broadcast(token, text);
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as BroadcastResult;
}

const block = async (token: string, username: string) =>
  expect((await chat.request("PUT", `/blocks/${username}`, { token })).status).toBe(200);

describe("POST /broadcasts", () => {
  it("reaches every other online user but not the sender", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const hansStream = await streams.open(hansToken);
    const lukeStream = await streams.open(await chat.login(luke));
    const yodaStream = await streams.open(await chat.login(yoda));

    const response = await broadcast(hansToken, "Hello everyone");
    expect(response.status).toBe(201);
    const body = (await response.json()) as BroadcastResult;
    expect(body).toEqual({
      id: expect.any(Number),
      from: hans,
      text: "Hello everyone",
      sentAt: expect.any(String),
      recipients: 2,
      allDelivered: true,
    });

    const view = { id: body.id, from: hans, text: "Hello everyone", sentAt: body.sentAt };
    expect((await lukeStream.next("broadcast")).data).toEqual(view);
    expect((await yodaStream.next("broadcast")).data).toEqual(view);
    expect(await hansStream.quietFor(300, "broadcast")).toEqual([]);
  });

  it("skips users who blocked the sender and says so", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    await block(lukeToken, hans);
    const lukeStream = await streams.open(lukeToken);
    const yodaStream = await streams.open(await chat.login(yoda));

    const body = await broadcastOk(hansToken, "anyone there?");
    expect(body).toMatchObject({
      from: hans,
      recipients: 1,
      allDelivered: false,
      detail: "Your message could not be delivered to some recipients",
    });
    expect((await yodaStream.next("broadcast")).data).toMatchObject({ id: body.id, from: hans, text: "anyone there?" });
    expect(await lukeStream.quietFor(400, "broadcast")).toEqual([]);
  });

  it("still reaches the users the sender has blocked", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    await block(hansToken, luke);
    const lukeStream = await streams.open(await chat.login(luke));
    const body = await broadcastOk(hansToken, "even you");
    expect(body).toMatchObject({ recipients: 1, allDelivered: true });
    expect((await lukeStream.next("broadcast")).data).toMatchObject({ id: body.id, text: "even you" });
  });

  it("never reaches users who were offline when it was sent", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    await chat.login(luke);
    const body = await broadcastOk(hansToken, "only for the present");
    expect(body.recipients).toBe(1);

    const yodaStream = await streams.open(await chat.login(yoda));
    expect(await yodaStream.quietFor(500, "broadcast")).toEqual([]);
  });

  it("reports no recipients when nobody else is online", async () => {
    const { hans } = await chat.users("hans");
    const body = await broadcastOk(await chat.login(hans), "echo");
    expect(body).toMatchObject({ recipients: 0, allDelivered: true });
    expect(body).not.toHaveProperty("detail");
  });

  it.each([
    ["an empty text", ""],
    ["a text of only white space", "   "],
    ["a text of 4097 characters", "z".repeat(4097)],
  ])("rejects %s and sends nothing", async (_case, text) => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    await expectValidationError(await broadcast(hansToken, text), "text");
    expect(await lukeStream.quietFor(200, "broadcast")).toEqual([]);
  });

  it("rejects unknown fields and sends nothing", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    await expectValidationError(await chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "hi", to: luke } }));
    expect(await lukeStream.quietFor(200, "broadcast")).toEqual([]);
  });
});
