import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../support/cluster.js";

const onPostgres = Boolean(process.env.DATABASE_URL);

describe.skipIf(!onPostgres)("two instances on one PostgreSQL database", () => {
  let cluster: Cluster;
  let a: Cluster["instances"][number];
  let b: Cluster["instances"][number];
  beforeAll(async () => {
    cluster = await startCluster(["hans", "luke", "yoda", "leia", "vader", "obiwan", "chewy", "r2d2", "c3p0"], 2, [
      "--timeout",
      "3",
    ]);
    [a, b] = cluster.instances as [typeof a, typeof b];
  }, 120_000);
  afterAll(() => cluster?.stop());

  it("delivers messages, broadcasts and presence between users on different instances", async () => {
    const hans = await cluster.login(a!, "hans");
    const luke = await cluster.login(b!, "luke");
    const lukeStream = await cluster.events(b!, luke);

    const yoda = await cluster.login(a!, "yoda");
    expect((await lukeStream.next("presence")).data).toMatchObject({ username: "yoda", status: "online" });
    const yodaStream = await cluster.events(a!, yoda);
    expect((await cluster.call(a!, "PUT", "/blocks/hans", yoda)).status).toBe(200);

    const sent = await cluster.call(a!, "POST", "/messages", hans, { to: "luke", text: "Hey Dude" });
    expect(sent.status).toBe(201);
    expect(await sent.json()).toMatchObject({ delivery: "delivered" });
    expect((await lukeStream.next("message")).data).toMatchObject({ from: "hans", text: "Hey Dude" });

    const broadcast = await cluster.call(a!, "POST", "/broadcasts", hans, { text: "Hello all" });
    expect(await broadcast.json()).toMatchObject({
      recipients: 1,
      allDelivered: false,
      detail: "Your message could not be delivered to some recipients",
    });
    expect((await lukeStream.next("broadcast")).data).toMatchObject({ from: "hans", text: "Hello all" });
    expect(await yodaStream.quietFor(500, "broadcast")).toEqual([]);

    const online = await cluster.call(b!, "GET", "/users/online", luke);
    expect(await online.json()).toEqual({ users: ["hans", "yoda"] });

    // A token from one instance works on the other (the signing secret lives in the database).
    const hansStreamOnB = await cluster.events(b!, hans);
    expect((await cluster.call(a!, "POST", "/logout", hans)).status).toBe(204);
    expect((await hansStreamOnB.next("session_ended")).data).toEqual({ reason: "logout" });
    expect((await lukeStream.next("presence")).data).toMatchObject({ username: "hans", status: "offline" });
    expect((await cluster.call(b!, "GET", "/blocks", hans)).status).toBe(401);

    for (const [token, instance] of [
      [luke, b],
      [yoda, a],
    ] as const)
      await cluster.call(instance, "POST", "/logout", token);
    await Promise.all([lukeStream.close(), yodaStream.close()]);
  });

  it("refuses a second login and counts wrong passwords across instances", async () => {
    const leia = await cluster.login(a!, "leia");
    const again = await cluster.call(b!, "POST", "/login", undefined, { username: "leia", password: "leia-pw" });
    expect(again.status).toBe(409);
    await cluster.call(a!, "POST", "/logout", leia);

    const wrong = { username: "vader", password: "nope" };
    expect((await cluster.call(a!, "POST", "/login", undefined, wrong)).status).toBe(401);
    expect((await cluster.call(b!, "POST", "/login", undefined, wrong)).status).toBe(401);
    const third = await cluster.call(a!, "POST", "/login", undefined, wrong);
    expect(third.status).toBe(423);
    const during = await cluster.call(b!, "POST", "/login", undefined, { username: "vader", password: "vader-pw" });
    expect(during.status).toBe(423);
  });

  it("times an idle session out once, whichever instance sweeps", async () => {
    const obiwan = await cluster.login(a!, "obiwan");
    const watcher = await cluster.login(b!, "chewy");
    const watcherStream = await cluster.events(b!, watcher);
    const obiwanStreams = [await cluster.events(a!, obiwan), await cluster.events(b!, obiwan)];
    // luke keeps himself active while obiwan idles past the 3 s timeout.
    const keepAlive = setInterval(() => void cluster.call(b!, "GET", "/blocks", watcher), 500);
    try {
      for (const stream of obiwanStreams)
        expect((await stream.next("session_ended", 10_000)).data).toEqual({ reason: "timeout" });
      const offline = await watcherStream.next("presence", 5000);
      expect(offline.data).toMatchObject({ username: "obiwan", status: "offline" });
      const more = await watcherStream.quietFor(1500, "presence");
      expect(more.filter((event) => (event.data as { username: string }).username === "obiwan")).toEqual([]);
    } finally {
      clearInterval(keepAlive);
    }
    expect((await cluster.call(a!, "GET", "/blocks", obiwan)).status).toBe(401);
    await cluster.call(b!, "POST", "/logout", watcher);
    await watcherStream.close();
  });

  it("sends private_started to a peer whose stream is on the other instance", async () => {
    const r2d2 = await cluster.login(a!, "r2d2");
    const login = await cluster.call(b!, "POST", "/login", undefined, {
      username: "c3p0",
      password: "c3p0-pw",
      p2pPort: 40123,
      p2pHost: "127.0.0.1",
    });
    const c3p0 = ((await login.json()) as { token: string }).token;
    const c3p0Stream = await cluster.events(b!, c3p0);
    const started = await cluster.call(a!, "POST", "/private/c3p0", r2d2);
    expect(await started.json()).toMatchObject({ address: { host: "127.0.0.1", port: 40123 } });
    expect((await c3p0Stream.next("private_started")).data).toMatchObject({ from: "r2d2" });
    await cluster.call(a!, "POST", "/logout", r2d2);
    expect((await c3p0Stream.next("private_stopped")).data).toEqual({ from: "r2d2", reason: "logout" });
    await cluster.call(b!, "POST", "/logout", c3p0);
    await c3p0Stream.close();
  });
});
