import { describe, expect, it } from "vitest";
import type { TestChat } from "../support/chat.js";
import { expectProblem, sharedChat } from "../support/http.js";

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

const block = (token: string, username: string) => chat.request("PUT", `/blocks/${username}`, { token });
const unblock = (token: string, username: string) => chat.request("DELETE", `/blocks/${username}`, { token });

async function blocked(token: string): Promise<string[]> {
  const response = await chat.request("GET", "/blocks", { token });
  expect(response.status).toBe(200);
  return ((await response.json()) as { users: string[] }).users;
}

describe("PUT /blocks/{username}", () => {
  it("blocks a user, and blocking again changes nothing", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    for (let i = 0; i < 2; i++) {
      const response = await block(token, luke);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ username: luke, blocked: true, detail: `${luke} is blocked` });
    }
    expect(await blocked(token)).toEqual([luke]);
  });

  it("refuses to block yourself", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await block(token, hans), 422, "self_target", "Error. Cannot block self");
    expect(await blocked(token)).toEqual([]);
  });

  it("refuses to block an unknown user", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await block(token, `${hans}_nobody`), 404, "unknown_user", "Error. Invalid user");
    expect(await blocked(token)).toEqual([]);
  });

  it("never tells the blocked user", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    expect((await block(hansToken, luke)).status).toBe(200);
    expect(await lukeStream.quietFor(300)).toEqual([]);
  });

  it("hides the blocker's logins and logouts from the blocked user only", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    expect((await block(await chat.login(hans), luke)).status).toBe(200);
    await chat.endAllSessions();
    const lukeStream = await streams.open(await chat.login(luke));
    const yodaStream = await streams.open(await chat.login(yoda));

    const hansToken = await chat.login(hans);
    expect((await yodaStream.next("presence")).data).toMatchObject({ username: hans, status: "online" });
    expect((await chat.request("POST", "/logout", { token: hansToken })).status).toBe(204);
    expect((await yodaStream.next("presence")).data).toMatchObject({ username: hans, status: "offline" });

    await lukeStream.quietFor(300);
    const aboutHans = lukeStream.events.filter(
      (event) => event.event === "presence" && (event.data as { username: string }).username === hans,
    );
    expect(aboutHans).toEqual([]);
    expect(lukeStream.events.filter((event) => event.event === "presence")).toContainEqual(
      expect.objectContaining({ data: expect.objectContaining({ username: yoda, status: "online" }) }),
    );
  });
});

describe("DELETE /blocks/{username}", () => {
  it("unblocks a blocked user, whose messages then get through again", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    expect((await block(hansToken, luke)).status).toBe(200);
    expect((await chat.request("POST", "/messages", { token: lukeToken, json: { to: hans, text: "hi" } })).status).toBe(403);

    const response = await unblock(hansToken, luke);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ username: luke, blocked: false, detail: `${luke} is unblocked` });
    expect(await blocked(hansToken)).toEqual([]);
    expect((await chat.request("POST", "/messages", { token: lukeToken, json: { to: hans, text: "hi" } })).status).toBe(201);
  });

  it("unblocks only the named user: another blocked user stays blocked", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const yodaToken = await chat.login(yoda);
    expect((await block(hansToken, luke)).status).toBe(200);
    expect((await block(hansToken, yoda)).status).toBe(200);

    expect((await unblock(hansToken, luke)).status).toBe(200);
    expect(await blocked(hansToken)).toEqual([yoda]);
    expect((await chat.request("POST", "/messages", { token: lukeToken, json: { to: hans, text: "hi" } })).status).toBe(201);
    await expectProblem(
      await chat.request("POST", "/messages", { token: yodaToken, json: { to: hans, text: "hi" } }),
      403,
      "blocked",
    );
  });

  it("says a user who was not blocked was not blocked", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    await expectProblem(await unblock(token, luke), 404, "not_blocked", `Error. ${luke} was not blocked`);
    expect((await block(token, luke)).status).toBe(200);
    expect((await unblock(token, luke)).status).toBe(200);
    await expectProblem(await unblock(token, luke), 404, "not_blocked", `Error. ${luke} was not blocked`);
  });

  it("refuses to unblock yourself or an unknown user", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    await expectProblem(await unblock(token, hans), 422, "self_target");
    await expectProblem(await unblock(token, `${hans}_nobody`), 404, "unknown_user", "Error. Invalid user");
  });
});

describe("GET /blocks", () => {
  it("lists the caller's blocked users sorted by code point, and only the caller's", async () => {
    const names = await chat.users("me", "zed", "anna", "Bob", "other");
    const token = await chat.login(names.me);
    for (const user of [names.zed, names.anna, names.Bob]) expect((await block(token, user)).status).toBe(200);
    expect((await block(await chat.login(names.other), names.me)).status).toBe(200);
    expect(await blocked(token)).toEqual([names.Bob, names.anna, names.zed]);
  });
});
