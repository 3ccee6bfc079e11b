import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { passwordOf } from "../support/chat.js";
import type { Cluster } from "../support/cluster.js";
import { startChatOverNats, type NatsCluster } from "../support/nats-cluster.js";
import type { EventReader } from "../support/sse.js";

// Three instances over a three-node NATS cluster, each instance on a different first node, with the
// users of every test spread over the instances: everything one user does reaches the others
// through NATS, never through the process that served the request.
const onPostgres = Boolean(process.env.DATABASE_URL);

type Instance = Cluster["instances"][number];

const users = {
  bus: ["bus_hans", "bus_luke"],
  twoWay: ["hans", "luke"],
  blocked: ["b_hans", "b_luke", "b_yoda"],
  whoelse: ["w_hans", "w_luke", "w_yoda"],
  whoelsesince: ["s_hans", "s_luke", "s_yoda", "s_leia"],
  offline: ["o_hans", "o_luke"],
  presence: ["p_hans", "p_luke"],
  lockout: ["l_hans"],
  blockPresence: ["bp_yoda", "bp_hans", "bp_luke"],
  // Dots separate the tokens of a NATS subject: each of these must still be one user's own subject.
  dotted: ["obi.wan", "obi", ".lead", "trail.", "a..b", "kenobi"],
  privateSession: ["r2d2", "c3p0"],
  logout: ["lo_leia", "lo_han"],
};

/**
 * Waits for the presence notice of `username` going `status`, passing over others: a notice sent
 * just before a stream opened may still reach it, a little late, from another instance.
 */
async function presenceOf(stream: EventReader, username: string, status: "online" | "offline") {
  for (;;) {
    const { data } = await stream.next("presence", 10_000);
    if ((data as { username: string }).username === username && (data as { status: string }).status === status) return;
  }
}

describe.skipIf(!onPostgres)("three instances over a three-node NATS cluster", () => {
  let nats: NatsCluster;
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  let c: Instance;
  beforeAll(async () => {
    ({ nats, chat: cluster } = await startChatOverNats(Object.values(users).flat(), 3, 14300));
    [a, b, c] = cluster.instances as [Instance, Instance, Instance];
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
  });
  // Every test logs its users out, even when it fails: who is online (and so who a broadcast reaches) is then the next test's alone.
  const live = new Map<string, Instance>();
  afterEach(async () => {
    for (const [token, instance] of live) await cluster.call(instance, "POST", "/logout", token);
    live.clear();
  });
  const login = async (instance: Instance, username: string) => {
    const token = await cluster.login(instance, username);
    live.set(token, instance);
    return token;
  };

  const send = async (instance: Instance, token: string, to: string, text: string) => {
    const response = await cluster.call(instance, "POST", "/messages", token, { to, text });
    expect(response.status).toBe(201);
    return response.json() as Promise<{ delivery: string }>;
  };
  const logout = async (instance: Instance, token: string) => {
    expect((await cluster.call(instance, "POST", "/logout", token)).status).toBe(204);
    live.delete(token);
  };
  const online = async (instance: Instance, token: string, since?: number) => {
    const response = await cluster.call(instance, "GET", `/users/online${since === undefined ? "" : `?since=${since}`}`, token);
    return ((await response.json()) as { users: string[] }).users;
  };

  it("carries events over NATS", async () => {
    const [hans, luke] = users.bus as [string, string];
    const hansToken = await login(a, hans);
    const lukeToken = await login(b, luke);
    const lukeStream = await cluster.events(b, lukeToken);
    const before = await cluster.metric(b, "chat_bus_received_total");
    expect(await send(a, hansToken, luke, "over the bus")).toMatchObject({ delivery: "delivered" });
    expect((await lukeStream.next("message")).data).toMatchObject({ from: hans, text: "over the bus" });
    expect(await cluster.metric(a, "chat_bus_published_total")).toBeGreaterThan(0);
    expect(await cluster.metric(b, "chat_bus_received_total")).toBeGreaterThan(before);
    await logout(a, hansToken);
    await logout(b, lukeToken);
    await lukeStream.close();
  });

  describe("the original's sample sessions, each user on another instance", () => {
    it("two users message each other both ways", async () => {
      const [hans, luke] = users.twoWay as [string, string];
      const hansToken = await login(a, hans);
      const lukeToken = await login(b, luke);
      const hansStream = await cluster.events(a, hansToken);
      const lukeStream = await cluster.events(b, lukeToken);

      expect(await send(a, hansToken, luke, "Hey Dude")).toMatchObject({ delivery: "delivered" });
      expect((await lukeStream.next("message")).data).toMatchObject({ from: hans, to: luke, text: "Hey Dude" });
      await send(b, lukeToken, hans, "hey hans");
      expect((await hansStream.next("message")).data).toMatchObject({ from: luke, to: hans, text: "hey hans" });

      await logout(a, hansToken);
      await logout(b, lukeToken);
      await Promise.all([hansStream.close(), lukeStream.close()]);
    });

    it("a user blocked by yoda cannot message yoda, and his broadcast skips yoda and says so", async () => {
      const [hans, luke, yoda] = users.blocked as [string, string, string];
      const hansToken = await login(a, hans);
      const lukeToken = await login(b, luke);
      const yodaToken = await login(c, yoda);
      expect((await cluster.call(c, "PUT", `/blocks/${hans}`, yodaToken)).status).toBe(200);
      const hansStream = await cluster.events(a, hansToken);
      const lukeStream = await cluster.events(b, lukeToken);
      const yodaStream = await cluster.events(c, yodaToken);

      const refused = await cluster.call(a, "POST", "/messages", hansToken, { to: yoda, text: "Hi yoda" });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ code: "blocked" });

      const broadcast = await cluster.call(a, "POST", "/broadcasts", hansToken, { text: "Hello everyone" });
      expect(await broadcast.json()).toMatchObject({ recipients: 1, allDelivered: false });
      expect((await lukeStream.next("broadcast")).data).toMatchObject({ from: hans, text: "Hello everyone" });

      // luke's broadcast, sent after hans's, is the first thing yoda gets: nothing of hans's came before it.
      const lukeBroadcast = await cluster.call(b, "POST", "/broadcasts", lukeToken, { text: "May the force be with you" });
      expect(await lukeBroadcast.json()).toMatchObject({ recipients: 2, allDelivered: true });
      expect((await yodaStream.next("broadcast")).data).toMatchObject({ from: luke });
      expect((await hansStream.next("broadcast")).data).toMatchObject({ from: luke });
      expect(yodaStream.events.filter((event) => (event.data as { from?: string }).from === hans)).toEqual([]);

      for (const [instance, token] of [
        [a, hansToken],
        [b, lukeToken],
        [c, yodaToken],
      ] as const)
        await logout(instance, token);
      await Promise.all([hansStream.close(), lukeStream.close(), yodaStream.close()]);
    });

    it("whoelse lists the other users online now, whichever instance they use", async () => {
      const [hans, luke, yoda] = users.whoelse as [string, string, string];
      const mine = (list: string[]) => list.filter((name) => users.whoelse.includes(name));
      const hansToken = await login(a, hans);
      const lukeToken = await login(b, luke);
      const yodaToken = await login(c, yoda);
      expect(mine(await online(a, hansToken))).toEqual([luke, yoda]);
      await logout(b, lukeToken);
      expect(mine(await online(b, hansToken))).toEqual([yoda]);
      expect(mine(await online(a, yodaToken))).toEqual([hans]);
      await logout(a, hansToken);
      await logout(c, yodaToken);
    });

    it("whoelsesince includes users who logged out inside the window but not before it", async () => {
      const [hans, luke, yoda, leia] = users.whoelsesince as [string, string, string, string];
      const mine = (list: string[]) => list.filter((name) => users.whoelsesince.includes(name));
      const leiaToken = await login(c, leia);
      const hansToken = await login(a, hans);
      await logout(c, await login(b, luke));
      await sleep(3000);
      await logout(a, await login(c, yoda));
      expect(mine(await online(b, hansToken, 2))).toEqual([leia, yoda]);
      expect(mine(await online(c, hansToken, 600))).toEqual([leia, luke, yoda]);
      expect(mine(await online(a, hansToken))).toEqual([leia]);
      await logout(a, hansToken);
      await logout(c, leiaToken);
    });

    it("a message to an offline user is delivered when they log in on another instance", async () => {
      const [hans, luke] = users.offline as [string, string];
      const hansToken = await login(a, hans);
      expect(await send(a, hansToken, luke, "Are you there?")).toMatchObject({ delivery: "stored" });
      const lukeToken = await login(c, luke);
      const lukeStream = await cluster.events(c, lukeToken);
      expect(await lukeStream.next()).toMatchObject({ event: "message", data: { from: hans, text: "Are you there?" } });
      await logout(a, hansToken);
      await logout(c, lukeToken);
      await lukeStream.close();
    });

    it("others are told when a user logs in and out on another instance", async () => {
      const [hans, luke] = users.presence as [string, string];
      const hansToken = await login(a, hans);
      const hansStream = await cluster.events(a, hansToken);
      const lukeToken = await login(b, luke);
      await presenceOf(hansStream, luke, "online");
      const lukeStream = await cluster.events(c, lukeToken);
      await logout(b, lukeToken);
      await presenceOf(hansStream, luke, "offline");
      expect((await lukeStream.next("session_ended")).data).toEqual({ reason: "logout" });
      await lukeStream.closed();
      await logout(a, hansToken);
      await hansStream.close();
    });

    it("three wrong passwords on three instances lock the account on all of them", async () => {
      const [hans] = users.lockout as [string];
      const attempt = (instance: Instance, password: string) =>
        cluster.call(instance, "POST", "/login", undefined, { username: hans, password });
      expect((await attempt(a, "wrong")).status).toBe(401);
      expect((await attempt(b, "wrong")).status).toBe(401);
      expect((await attempt(c, "wrong")).status).toBe(423);
      expect((await attempt(a, passwordOf(hans))).status).toBe(423);
    });
  });

  it("sends no presence and no message of a user to those blocked by him or blocking him", async () => {
    const [yoda, hans, luke] = users.blockPresence as [string, string, string];
    const yodaToken = await login(a, yoda);
    expect((await cluster.call(a, "PUT", `/blocks/${hans}`, yodaToken)).status).toBe(200);
    await logout(a, yodaToken);
    const hansToken = await login(b, hans);
    const lukeToken = await login(c, luke);
    const hansStream = await cluster.events(b, hansToken);
    const lukeStream = await cluster.events(c, lukeToken);

    // yoda comes and goes on a third instance: luke hears it, hans (whom yoda blocks) never does.
    const yodaAgain = await login(a, yoda);
    await presenceOf(lukeStream, yoda, "online");
    const refused = await cluster.call(b, "POST", "/messages", hansToken, { to: yoda, text: "let me in" });
    expect(refused.status).toBe(403);
    await logout(a, yodaAgain);
    await presenceOf(lukeStream, yoda, "offline");
    // A later notice to hans shows nothing of yoda's was merely late.
    await send(c, lukeToken, hans, "still here");
    await hansStream.next("message");
    expect(hansStream.events.filter((event) => JSON.stringify(event.data).includes(yoda))).toEqual([]);

    await logout(b, hansToken);
    await logout(c, lukeToken);
    await Promise.all([hansStream.close(), lukeStream.close()]);
  });

  it("gives users whose names hold dots subjects of their own", async () => {
    const spread = [a, b, c];
    const sessions = await Promise.all(
      users.dotted.map(async (name, index) => {
        const instance = spread[index % 3]!;
        const token = await login(instance, name);
        return { name, instance, token, stream: await cluster.events(instance, token) };
      }),
    );
    // Everyone sends one message to everyone else, from the instance of the next user along.
    for (const [index, sender] of sessions.entries()) {
      const from = spread[(index + 1) % 3]!;
      for (const recipient of sessions) {
        if (recipient !== sender) await send(from, sender.token, recipient.name, `${sender.name}->${recipient.name}`);
      }
    }
    for (const recipient of sessions) {
      const expected = sessions.filter((sender) => sender !== recipient).map((sender) => `${sender.name}->${recipient.name}`);
      const received: string[] = [];
      for (let count = 0; count < expected.length; count++)
        received.push(((await recipient.stream.next("message", 10_000)).data as { text: string }).text);
      expect(received).toEqual(expected);
      expect(await recipient.stream.quietFor(300, "message")).toEqual([]);
    }
    for (const { instance, token, stream } of sessions) {
      await logout(instance, token);
      await stream.close();
    }
  });

  it("starts and stops private sessions between users on different instances", async () => {
    const [r2d2, c3p0] = users.privateSession as [string, string];
    const r2d2Token = await login(a, r2d2);
    const c3p0Login = await cluster.call(b, "POST", "/login", undefined, {
      username: c3p0,
      password: passwordOf(c3p0),
      p2pPort: 40123,
      p2pHost: "127.0.0.1",
    });
    const c3p0Token = ((await c3p0Login.json()) as { token: string }).token;
    live.set(c3p0Token, b);
    const c3p0Stream = await cluster.events(c, c3p0Token);
    const r2d2Stream = await cluster.events(b, r2d2Token);

    const started = await cluster.call(a, "POST", `/private/${c3p0}`, r2d2Token);
    expect(started.status).toBe(200);
    expect(await started.json()).toMatchObject({ address: { host: "127.0.0.1", port: 40123 } });
    expect((await c3p0Stream.next("private_started")).data).toMatchObject({ from: r2d2 });
    expect((await cluster.call(c, "DELETE", `/private/${r2d2}`, c3p0Token)).status).toBe(204);
    expect((await r2d2Stream.next("private_stopped")).data).toMatchObject({ from: c3p0 });

    // Started again, it ends when the starter logs out on yet another instance.
    expect((await cluster.call(b, "POST", `/private/${c3p0}`, r2d2Token)).status).toBe(200);
    expect((await c3p0Stream.next("private_started")).data).toMatchObject({ from: r2d2 });
    await logout(c, r2d2Token);
    expect((await c3p0Stream.next("private_stopped")).data).toEqual({ from: r2d2, reason: "logout" });
    await logout(b, c3p0Token);
    await c3p0Stream.close();
  });

  it("ends a session's streams on every instance at its logout", async () => {
    const [leia, han] = users.logout as [string, string];
    const leiaToken = await login(a, leia);
    const hanToken = await login(b, han);
    const hanStream = await cluster.events(c, hanToken);
    const leiaStreams = await Promise.all([a, b, c].map((instance) => cluster.events(instance, leiaToken)));
    await logout(b, leiaToken);
    for (const stream of leiaStreams) {
      expect((await stream.next("session_ended")).data).toEqual({ reason: "logout" });
      await stream.closed();
    }
    await presenceOf(hanStream, leia, "offline");
    expect((await cluster.call(c, "GET", "/blocks", leiaToken)).status).toBe(401);
    await logout(a, hanToken);
    await hanStream.close();
  });
});

describe.skipIf(!onPostgres)("inactivity timeouts over NATS", () => {
  let nats: NatsCluster;
  let cluster: Cluster;
  beforeAll(async () => {
    ({ nats, chat: cluster } = await startChatOverNats(["obiwan", "chewy"], 2, 14310, ["--timeout", "3"]));
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
  });

  it("times an idle session out once, on every instance, whichever instance sweeps", async () => {
    const [a, b] = cluster.instances as [Instance, Instance];
    const obiwan = await cluster.login(a, "obiwan");
    const chewy = await cluster.login(b, "chewy");
    const chewyStream = await cluster.events(b, chewy);
    const obiwanStreams: EventReader[] = [await cluster.events(a, obiwan), await cluster.events(b, obiwan)];
    // chewy keeps himself active while obiwan idles past the 3 s timeout.
    const keepAlive = setInterval(() => void cluster.call(b, "GET", "/blocks", chewy), 500);
    try {
      for (const stream of obiwanStreams)
        expect((await stream.next("session_ended", 15_000)).data).toEqual({ reason: "timeout" });
      // obiwan's own login may reach chewy's stream late; his logout comes after it.
      await presenceOf(chewyStream, "obiwan", "offline");
      const more = await chewyStream.quietFor(1500, "presence");
      expect(more.filter((event) => (event.data as { username: string }).username === "obiwan")).toEqual([]);
    } finally {
      clearInterval(keepAlive);
    }
    expect((await cluster.call(a, "GET", "/blocks", obiwan)).status).toBe(401);
    await cluster.call(b, "POST", "/logout", chewy);
    await chewyStream.close();
  });
});
