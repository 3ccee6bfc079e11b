import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { EventReader } from "../support/sse.js";
import { waitUntil } from "../support/wait.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

describe("event streams per session", () => {
  it("refuses a session's sixth open stream with 429 too_many_streams naming the cap (5 by default)", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const streams: EventReader[] = [];
    for (let index = 0; index < 5; index++) streams.push(await chat.events(token));

    const refused = await chat.request("GET", "/events", { token });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe("too_many_streams");
    expect(problem.detail).toContain("5 event streams");
    await Promise.all(streams.map((stream) => stream.close()));
  });

  it("frees a slot when one of the session's streams closes", async () => {
    const { luke } = await chat.users("luke");
    const token = await chat.login(luke);
    const streams: EventReader[] = [];
    for (let index = 0; index < 5; index++) streams.push(await chat.events(token));
    expect((await chat.request("GET", "/events", { token })).status).toBe(429);

    await streams.shift()?.close();
    // The server hears of the close a moment later: retry as a client would.
    await waitUntil(async () => {
      const response = await chat.request("GET", "/events", { token });
      if (response.status === 200) streams.push(new EventReader(response));
      else await response.body?.cancel();
      return response.status === 200;
    }, "a stream to open once another closed");
    expect(streams).toHaveLength(5);
    await Promise.all(streams.map((stream) => stream.close()));
  });

  it("counts each session on its own: another user's streams are not refused", async () => {
    const { leia, yoda } = await chat.users("leia", "yoda");
    const leiaToken = await chat.login(leia);
    const yodaToken = await chat.login(yoda);
    const streams: EventReader[] = [];
    for (let index = 0; index < 5; index++) streams.push(await chat.events(leiaToken));
    streams.push(await chat.events(yodaToken));
    expect((await chat.request("GET", "/events", { token: leiaToken })).status).toBe(429);
    await Promise.all(streams.map((stream) => stream.close()));
  });
});
