import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { EventReader } from "../support/sse.js";
import { endReasons, keepActive, watchAttachments } from "./helpers.js";

let chat: TestChat;
let streams: ReturnType<typeof watchAttachments>;
beforeAll(async () => {
  chat = await createTestChat({ timeoutSeconds: 1 });
  streams = watchAttachments(() => chat.context.hub);
  // One pass over the code paths first, so a cold start does not eat into the 1 s timeout below.
  // Nothing is asserted here: under load the warm-up session may time out half-way.
  const { obiwan } = await chat.users("obiwan");
  const token = await chat.login(obiwan);
  for (const path of ["/users/online", "/events"]) await (await chat.request("GET", path, { token })).body?.cancel();
  await chat.request("POST", "/logout", { token });
});
afterAll(() => chat.close());

const statusOf = async (token: string) => {
  const response = await chat.request("GET", "/users/online", { token });
  await response.body?.cancel();
  return response.status;
};

describe("inactivity logout", () => {
  it("ends a session that makes no requests, even with its stream open, and tells the others", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    // The observer must outlive the timeout itself, so it keeps busier than the 300 ms test below.
    const hansActivity = keepActive(chat, hansToken, 200);
    try {
      const watcher = await streams.opened(hans, () => chat.events(hansToken));
      const lukeToken = await chat.login(luke);
      const idle = await streams.opened(luke, () => chat.events(lukeToken));

      expect(await idle.next("session_ended", 10_000)).toEqual({
        id: undefined,
        event: "session_ended",
        data: { reason: "timeout" },
      });
      await idle.closed();
      expect((await watcher.next("presence")).data).toMatchObject({ username: luke, status: "online" });
      expect((await watcher.next("presence", 10_000)).data).toMatchObject({ username: luke, status: "offline" });
      expect(await statusOf(lukeToken)).toBe(401);
      expect(await endReasons(chat, luke)).toEqual(["timeout"]);
      await watcher.close();
    } finally {
      const statuses = await hansActivity.stop();
      expect(
        statuses.filter((status) => status !== 200),
        `observer statuses ${statuses}`,
      ).toEqual([]);
    }
  });

  it("does not count opening event streams as activity", async () => {
    const { luke } = await chat.users("luke");
    const token = await chat.login(luke);
    const opened: EventReader[] = [];
    let ended = false;
    // A new stream every 300 ms: if opening one counted as activity, the session would never end.
    while (!ended) {
      const response = await chat.request("GET", "/events", { token });
      ended = response.status === 401;
      if (!ended) opened.push(new EventReader(response));
      expect(opened.length).toBeLessThan(40);
      await sleep(300);
    }
    expect(opened.length).toBeGreaterThanOrEqual(2);
    for (const stream of opened) await stream.closed();
    // Every stream is told, the one still opening when the session ended too.
    for (const stream of opened) {
      expect(stream.events.at(-1)).toEqual({ id: undefined, event: "session_ended", data: { reason: "timeout" } });
    }
  });

  // One window for every route family: each user keeps busy with one of them, at the same time (a
  // window per family cost the mutation run 1.8 s each, for every mutant of code each app build runs).
  it("keeps alive past the timeout a session that makes a request of any family every 300 ms", async () => {
    const routes = [
      ["luke", "GET", "/users/online", undefined],
      ["hans", "GET", "/blocks", undefined],
      ["leia", "GET", "/messages", undefined],
      ["yoda", "POST", "/broadcasts", { text: "still here" }],
      ["chewie", "GET", "/private", undefined],
    ] as const;
    const names = await chat.users(...routes.map(([name]) => name));
    const busy = await Promise.all(
      routes.map(async ([name, method, path, json]) => {
        const username = names[name];
        const token = await chat.login(username);
        return { username, method, path, token, activity: keepActive(chat, token, 300, method, path, json) };
      }),
    );
    const stream = await streams.opened(names.luke, () => chat.events(busy[0]!.token));
    await sleep(2500);
    for (const { username, method, path, token, activity } of busy) {
      const statuses = await activity.stop();
      expect(statuses.length, `${method} ${path}`).toBeGreaterThanOrEqual(5);
      expect(
        statuses.filter((status) => status !== 200 && status !== 201),
        `${method} ${path} statuses ${statuses}`,
      ).toEqual([]);
      expect(await statusOf(token), `${method} ${path}`).toBe(200);
      expect(await endReasons(chat, username), `${method} ${path}`).toEqual([null]);
    }
    expect(stream.events.filter((event) => event.event === "session_ended")).toEqual([]);
    expect(stream.ended).toBe(false);
    await stream.close();
  });
});
