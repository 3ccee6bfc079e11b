import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import { startCluster, type Cluster } from "../support/cluster.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import type { ReceivedEvent } from "../support/sse.js";

const onPostgres = Boolean(process.env.DATABASE_URL);

type Instance = Cluster["instances"][number];

async function fanOut(instance: Instance) {
  const response = await fetch(`${instance.url}/ready`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { fanOut: { kind: string; connected: boolean } }).fanOut;
}

const ids = (events: readonly ReceivedEvent[]) =>
  events.filter((event) => event.id !== undefined).map((event) => Number(event.id));

describe.skipIf(!onPostgres)("two instances fanning out over one NATS server", () => {
  let nats: NatsServer;
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    nats = await startNatsServer(14222);
    cluster = await startCluster(["hans", "luke", "yoda", "han.solo", "darth..vader-2", "leia", "obiwan"], 2, [
      "--nats-url",
      nats.url,
    ]);
    [a, b] = cluster.instances as [Instance, Instance];
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop("SIGKILL");
  });

  it("says so at start-up and in /ready", async () => {
    expect(a.output()).toContain(`fan-out: nats (${nats.url})`);
    expect(await fanOut(b)).toEqual({ kind: "nats", connected: true });
  });

  it("carries a direct message, a broadcast and a presence notice across instances exactly once", async () => {
    const hans = await cluster.login(a, "hans");
    const luke = await cluster.login(b, "luke");
    const lukeStream = await cluster.events(b, luke);

    await cluster.login(a, "yoda");
    expect((await lukeStream.next("presence")).data).toMatchObject({ username: "yoda", status: "online" });
    const sent = await cluster.call(a, "POST", "/messages", hans, { to: "luke", text: "Hey Dude" });
    expect(await sent.json()).toMatchObject({ delivery: "delivered" });
    expect((await lukeStream.next("message")).data).toMatchObject({ from: "hans", text: "Hey Dude" });
    expect((await cluster.call(a, "POST", "/broadcasts", hans, { text: "Hello all" })).status).toBe(201);
    expect((await lukeStream.next("broadcast")).data).toMatchObject({ from: "hans", text: "Hello all" });

    await lukeStream.quietFor(1500);
    const got = lukeStream.events;
    expect(got.filter((event) => event.event === "message")).toHaveLength(1);
    expect(got.filter((event) => event.event === "broadcast")).toHaveLength(1);
    expect(
      got.filter((event) => event.event === "presence" && (event.data as { username: string }).username === "yoda"),
    ).toHaveLength(1);
    expect(ids(got)).toEqual([...new Set(ids(got))].sort((x, y) => x - y));
    await lukeStream.close();
  }, 60_000);

  it("delivers to a dotted name from the event it carries, without reading the log; only where the user has a stream", async () => {
    const han = await cluster.login(a, "han.solo");
    const vader = await cluster.login(b, "darth..vader-2");
    const vaderStream = await cluster.events(b, vader);
    await vaderStream.quietFor(1500); // the stream's first read of the log and the subscription's two settle

    const readsBefore = await cluster.metric(b, "chat_event_log_reads_total");
    const heardOnB = await cluster.metric(b, "chat_bus_received_total", 'kind="event"');
    const heardOnA = await cluster.metric(a, "chat_bus_received_total", 'kind="event"');
    const sent = await cluster.call(a, "POST", "/messages", han, { to: "darth..vader-2", text: "I am your father" });
    expect(sent.status).toBe(201);
    expect((await vaderStream.next("message")).data).toMatchObject({ from: "han.solo", to: "darth..vader-2" });
    await sleep(300);
    expect(await cluster.metric(b, "chat_event_log_reads_total")).toBe(readsBefore);
    expect(await cluster.metric(b, "chat_bus_received_total", 'kind="event"')).toBe(heardOnB + 1);
    // a holds no stream of darth..vader-2 (nor of han.solo): it subscribed to neither.
    expect(await cluster.metric(a, "chat_bus_received_total", 'kind="event"')).toBe(heardOnA);

    // Once b's last stream of the user closes, b no longer hears of their events.
    await vaderStream.close();
    await waitUntil(async () => (await cluster.metric(b, "chat_event_streams_open")) === 0, "b's streams to close");
    await sleep(300);
    expect((await cluster.call(a, "POST", "/messages", han, { to: "darth..vader-2", text: "Noooo" })).status).toBe(201);
    await sleep(500);
    expect(await cluster.metric(b, "chat_bus_received_total", 'kind="event"')).toBe(heardOnB + 1);
  }, 60_000);

  it("still delivers every event, late from the log, while NATS is down, and live again once it is back", async () => {
    const leia = await cluster.login(a, "leia");
    const obiwan = await cluster.login(b, "obiwan");
    const stream = await cluster.events(b, obiwan);
    await stream.quietFor(500);

    await nats.stop("SIGKILL");
    await waitUntil(async () => !(await fanOut(b)).connected, "b to notice NATS is gone");
    const readsOffline = await cluster.metric(b, "chat_event_log_reads_total");
    expect((await cluster.call(a, "POST", "/messages", leia, { to: "obiwan", text: "Help me" })).status).toBe(201);
    expect((await stream.next("message", 10_000)).data).toMatchObject({ text: "Help me" });
    // It came from the log, which the stream reads every second meanwhile.
    expect(await cluster.metric(b, "chat_event_log_reads_total")).toBeGreaterThan(readsOffline);

    await nats.restart();
    await waitUntil(async () => (await fanOut(a)).connected && (await fanOut(b)).connected, "both to reconnect", 45_000);
    await sleep(1500); // the reconnect's read of the log, and any polling read in flight
    const readsBefore = await cluster.metric(b, "chat_event_log_reads_total");
    expect((await cluster.call(a, "POST", "/messages", leia, { to: "obiwan", text: "You're my only hope" })).status).toBe(201);
    expect((await stream.next("message")).data).toMatchObject({ text: "You're my only hope" });
    await sleep(300);
    expect(await cluster.metric(b, "chat_event_log_reads_total")).toBe(readsBefore);
    expect(stream.events.filter((event) => event.event === "message")).toHaveLength(2);
    await stream.close();
  }, 150_000);
});
