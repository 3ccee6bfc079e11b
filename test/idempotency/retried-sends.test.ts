import { randomUUID } from "node:crypto";
import { count, eq } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { broadcasts, events, idempotencyKeys, messages } from "../../src/db/schema.js";
import { createTestChat, type TestChat } from "../support/chat.js";
import { expectProblem, expectValidationError, streamTracker } from "../support/http.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());
const streams = streamTracker(() => chat);
afterEach(async () => {
  await streams.closeAll();
  await chat.endAllSessions();
});

const keyed = (key: string) => ({ "idempotency-key": key });

async function messagesFrom(sender: string) {
  const [row] = await chat.db.select({ n: count() }).from(messages).where(eq(messages.sender, sender));
  return row!.n;
}
async function broadcastsFrom(sender: string) {
  const [row] = await chat.db.select({ n: count() }).from(broadcasts).where(eq(broadcasts.sender, sender));
  return row!.n;
}
async function eventsOf(username: string) {
  const [row] = await chat.db.select({ n: count() }).from(events).where(eq(events.username, username));
  return row!.n;
}

describe("POST /messages with an Idempotency-Key", () => {
  it("answers a retry with the first 201, byte for byte, and stores and delivers nothing new", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    const key = randomUUID();
    const send = () =>
      chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "Hey Dude" }, headers: keyed(key) });

    const first = await send();
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    const retry = await send();
    expect(retry.status).toBe(201);
    expect(retry.headers.get("content-type")).toContain("application/json");
    expect(await retry.text()).toBe(firstBody);
    expect(JSON.parse(firstBody)).toMatchObject({ from: hans, to: luke, text: "Hey Dude", delivery: "delivered" });

    expect(await messagesFrom(hans)).toBe(1);
    expect(await eventsOf(luke)).toBe(1);
    expect((await lukeStream.next("message")).data).toMatchObject({ id: JSON.parse(firstBody).id, text: "Hey Dude" });
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
  });

  it("sends each request without a key, even with the same body", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    for (let i = 0; i < 2; i++) {
      expect((await chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "twice" } })).status).toBe(201);
    }
    expect(await messagesFrom(hans)).toBe(2);
  });

  it("replays the first answer even after the recipient blocked the sender", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const key = randomUUID();
    const send = () =>
      chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "hi" }, headers: keyed(key) });
    const first = await send();
    expect(first.status).toBe(201);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeToken })).status).toBe(200);
    const retry = await send();
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual(await first.json());
    expect(await messagesFrom(hans)).toBe(1);
  });

  it("refuses the same key with a different body with 422 idempotency_key_reused and stores nothing", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const key = randomUUID();
    const send = (json: unknown) => chat.request("POST", "/messages", { token: hansToken, json, headers: keyed(key) });
    expect((await send({ to: luke, text: "first" })).status).toBe(201);
    await expectProblem(await send({ to: luke, text: "second" }), 422, "idempotency_key_reused");
    await expectProblem(await send({ to: yoda, text: "first" }), 422, "idempotency_key_reused");
    expect(await messagesFrom(hans)).toBe(1);
    expect(await eventsOf(yoda)).toBe(0);
  });

  it("refuses a key first used for a broadcast", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const key = randomUUID();
    expect(
      (await chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "all" }, headers: keyed(key) })).status,
    ).toBe(201);
    const reused = await chat.request("POST", "/messages", {
      token: hansToken,
      json: { to: luke, text: "all" },
      headers: keyed(key),
    });
    const problem = await expectProblem(reused, 422, "idempotency_key_reused");
    expect(problem.detail).toContain("POST /broadcasts");
    expect(await messagesFrom(hans)).toBe(0);
  });

  it("keeps each user's keys apart", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeToken = await chat.login(luke);
    const key = randomUUID();
    const fromHans = await chat.request("POST", "/messages", {
      token: hansToken,
      json: { to: yoda, text: "hello" },
      headers: keyed(key),
    });
    const fromLuke = await chat.request("POST", "/messages", {
      token: lukeToken,
      json: { to: yoda, text: "hello" },
      headers: keyed(key),
    });
    expect(fromHans.status).toBe(201);
    expect(fromLuke.status).toBe(201);
    expect((await fromLuke.json()).id).not.toBe((await fromHans.json()).id);
    expect(await eventsOf(yoda)).toBe(2);
  });

  it("does not use up a key on a refused send", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const key = randomUUID();
    const send = (json: unknown) => chat.request("POST", "/messages", { token: hansToken, json, headers: keyed(key) });
    await expectProblem(await send({ to: `${luke}_nobody`, text: "hi" }), 404, "unknown_user");
    await expectProblem(await send({ to: hans, text: "hi" }), 422, "self_target");
    const sent = await send({ to: luke, text: "hi" });
    expect(sent.status).toBe(201);
    expect(await messagesFrom(hans)).toBe(1);
  });

  it("sends once when the same key arrives many times at once", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "once" }, headers: keyed(key) }),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => response.text()));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(201));
    expect(new Set(bodies).size).toBe(1);
    expect(await messagesFrom(hans)).toBe(1);
    expect(await eventsOf(luke)).toBe(1);
    await lukeStream.next("message");
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
  });

  it.each([
    ["empty", ""],
    ["too long", "k".repeat(201)],
    ["with a space inside", "my key"],
    ["not ASCII", "clé-1"],
  ])("refuses a key that is %s with 400 validation_error", async (_, key) => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const response = await chat.request("POST", "/messages", {
      token: hansToken,
      json: { to: luke, text: "hi" },
      headers: keyed(key),
    });
    await expectValidationError(response, "idempotency-key");
    expect(await messagesFrom(hans)).toBe(0);
  });

  it("accepts a key of 200 visible ASCII characters", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const key = "!~".repeat(100);
    const send = () =>
      chat.request("POST", "/messages", { token: hansToken, json: { to: luke, text: "hi" }, headers: keyed(key) });
    expect((await send()).status).toBe(201);
    expect((await send()).status).toBe(201);
    expect(await messagesFrom(hans)).toBe(1);
  });
});

describe("POST /broadcasts with an Idempotency-Key", () => {
  it("answers a retry with the first 201 and delivers nothing new", async () => {
    const { hans, luke, yoda } = await chat.users("hans", "luke", "yoda");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await chat.login(luke));
    const yodaToken = await chat.login(yoda);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: yodaToken })).status).toBe(200);
    const key = randomUUID();
    const send = () =>
      chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "Hello all" }, headers: keyed(key) });

    const first = await send();
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    expect(JSON.parse(firstBody)).toMatchObject({ from: hans, recipients: 1, allDelivered: false, detail: expect.any(String) });
    const retry = await send();
    expect(retry.status).toBe(201);
    expect(await retry.text()).toBe(firstBody);

    expect(await broadcastsFrom(hans)).toBe(1);
    expect(await eventsOf(luke)).toBe(1);
    await lukeStream.next("broadcast");
    expect(await lukeStream.quietFor(200, "broadcast")).toEqual([]);
  });

  it("refuses the same key with another text", async () => {
    const { hans } = await chat.users("hans");
    const hansToken = await chat.login(hans);
    const key = randomUUID();
    const send = (text: string) => chat.request("POST", "/broadcasts", { token: hansToken, json: { text }, headers: keyed(key) });
    expect((await send("one")).status).toBe(201);
    await expectProblem(await send("two"), 422, "idempotency_key_reused");
    expect(await broadcastsFrom(hans)).toBe(1);
  });

  it("sends once when the same key arrives many times at once", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    await chat.login(luke);
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        chat.request("POST", "/broadcasts", { token: hansToken, json: { text: "once" }, headers: keyed(key) }),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => response.text()));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(201));
    expect(new Set(bodies).size).toBe(1);
    expect(await broadcastsFrom(hans)).toBe(1);
    expect(await eventsOf(luke)).toBe(1);
  });
});

describe("any sequence of keyed sends", () => {
  it("acts as a map from key to its first request: repeats replay it, other requests under it get 422", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const send = fc.record({
      key: fc.constantFrom("a", "b", "c"),
      route: fc.constantFrom("/messages", "/broadcasts"),
      text: fc.constantFrom("x", "y"),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(send, { minLength: 1, maxLength: 8 }), async (sends) => {
        const run = randomUUID();
        const firstAnswers = new Map<string, { request: string; body: string }>();
        const before = (await messagesFrom(hans)) + (await broadcastsFrom(hans));
        for (const { key, route, text } of sends) {
          const json = route === "/messages" ? { to: luke, text } : { text };
          const response = await chat.request("POST", route, { token: hansToken, json, headers: keyed(`${run}-${key}`) });
          const request = `${route} ${text}`;
          const first = firstAnswers.get(key);
          if (!first) {
            expect(response.status).toBe(201);
            firstAnswers.set(key, { request, body: await response.text() });
          } else if (first.request === request) {
            expect(response.status).toBe(201);
            expect(await response.text()).toBe(first.body);
          } else {
            await expectProblem(response, 422, "idempotency_key_reused");
          }
        }
        expect((await messagesFrom(hans)) + (await broadcastsFrom(hans))).toBe(before + firstAnswers.size);
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});

describe("the key and the send are one transaction", () => {
  // The simulated failures below are 500s, which the harness logs; keep the output quiet.
  beforeAll(() => void vi.spyOn(console, "error").mockImplementation(() => {}));
  afterAll(() => vi.mocked(console.error).mockRestore());

  it("stores neither the message nor its event when the key cannot be written", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    // A failure at the very last write of the send's transaction, as a crash there would be.
    await chat.db.execute(`create or replace function refuse_key() returns trigger language plpgsql as $$
      begin if new.username = '${hans}' then raise exception 'simulated failure'; end if; return new; end $$`);
    await chat.db.execute(
      `create trigger refuse_key before insert on idempotency_keys for each row execute function refuse_key()`,
    );
    try {
      const response = await chat.request("POST", "/messages", {
        token: hansToken,
        json: { to: luke, text: "lost" },
        headers: keyed(randomUUID()),
      });
      await expectProblem(response, 500, "internal_error");
      const broadcast = await chat.request("POST", "/broadcasts", {
        token: hansToken,
        json: { text: "lost" },
        headers: keyed(randomUUID()),
      });
      await expectProblem(broadcast, 500, "internal_error");
    } finally {
      await chat.db.execute(`drop trigger refuse_key on idempotency_keys`);
    }
    expect(await messagesFrom(hans)).toBe(0);
    expect(await broadcastsFrom(hans)).toBe(0);
    expect(await eventsOf(luke)).toBe(0);
  });

  it("stores no key when the send itself fails", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const key = randomUUID();
    await chat.db.execute(`create or replace function refuse_message() returns trigger language plpgsql as $$
      begin if new.sender = '${hans}' then raise exception 'simulated failure'; end if; return new; end $$`);
    await chat.db.execute(
      `create trigger refuse_message before insert on messages for each row execute function refuse_message()`,
    );
    try {
      const response = await chat.request("POST", "/messages", {
        token: hansToken,
        json: { to: luke, text: "lost" },
        headers: keyed(key),
      });
      await expectProblem(response, 500, "internal_error");
    } finally {
      await chat.db.execute(`drop trigger refuse_message on messages`);
    }
    const [stored] = await chat.db.select({ n: count() }).from(idempotencyKeys).where(eq(idempotencyKeys.username, hans));
    expect(stored!.n).toBe(0);
    const retry = await chat.request("POST", "/messages", {
      token: hansToken,
      json: { to: luke, text: "lost" },
      headers: keyed(key),
    });
    expect(retry.status).toBe(201);
    expect(await messagesFrom(hans)).toBe(1);
  });
});
