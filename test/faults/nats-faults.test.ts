import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait.js";
import type { Cluster } from "../support/cluster.js";
import { startChatOverNats, untilConnected, type NatsCluster } from "../support/nats-cluster.js";
import type { EventReader } from "../support/sse.js";

// kill -9 of a NATS node, of a chat instance, and all of NATS at once, with traffic in flight: the
// log in PostgreSQL stays the truth, so every accepted message reaches its recipient exactly once.
const onPostgres = Boolean(process.env.DATABASE_URL);

type Instance = Cluster["instances"][number];

const senders = ["s0", "s1", "s2", "s3", "s4", "s5"];
const recipients = ["r0", "r1", "r2"];
const downUsers = ["d_sender", "d_luke", "d_leia"];

/** The texts of a reader's message events, with their event ids. */
const messagesOf = (reader: EventReader) =>
  reader.events
    .filter((event) => event.event === "message")
    .map((event) => ({ id: Number(event.id), text: (event.data as { text: string }).text }));

describe.skipIf(!onPostgres)("faults of NATS and of instances under traffic", () => {
  let nats: NatsCluster;
  let cluster: Cluster;
  beforeAll(async () => {
    ({ nats, chat: cluster } = await startChatOverNats([...senders, ...recipients, ...downUsers], 3, 14320));
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
  });

  it("kill -9 of a NATS node, then of an instance, mid-traffic: every accepted message once, in order", async () => {
    const instances = () => cluster.instances;
    const alive = new Set<Instance>(instances());
    const tokens = new Map<string, string>();
    const home = new Map<string, number>();
    for (const [index, name] of [...senders, ...recipients].entries()) {
      home.set(name, index % 3);
      tokens.set(name, await cluster.login(instances()[index % 3]!, name));
    }
    // Each recipient reads on its own instance; a reader cut off by a kill is followed by one resumed elsewhere.
    const readers = new Map<string, EventReader[]>();
    for (const name of recipients) readers.set(name, [await cluster.events(instances()[home.get(name)!]!, tokens.get(name)!)]);

    const accepted = new Map<string, string[]>(recipients.map((name) => [name, []]));
    const uncertain = new Set<string>();
    let sent = 0;
    const counters = new Map<string, number>(senders.map((name) => [name, 0]));
    /**
     * Each sender sends up to `count` messages one after another, to the recipients in turn (its order
     * is the order of the 201s), and stops early once `stopped()`.
     */
    const traffic = (count: number, stopped = () => false) =>
      Promise.all(
        senders.map(async (sender) => {
          for (let step = 0; step < count && !stopped(); step++) {
            const index = counters.get(sender)!;
            counters.set(sender, index + 1);
            const to = recipients[index % recipients.length]!;
            const text = `${sender}#${index}`;
            // The sender's own instance while it lives, then the next one alive.
            const ring = instances();
            const start = home.get(sender)!;
            const instance = [0, 1, 2].map((offset) => ring[(start + offset) % 3]!).find((each) => alive.has(each))!;
            try {
              const response = await cluster.call(instance, "POST", "/messages", tokens.get(sender), { to, text });
              await response.text();
              if (response.status === 201) accepted.get(to)!.push(text);
              else if (response.status >= 500) uncertain.add(text);
              else throw new Error(`${text}: ${response.status}`);
            } catch (error) {
              if (error instanceof Error && error.message.startsWith(text)) throw error;
              uncertain.add(text); // cut off mid-request: stored or not, the client cannot know
            }
            sent++;
          }
        }),
      );
    const received = (name: string) => readers.get(name)!.flatMap(messagesOf);
    const everythingArrived = () =>
      recipients.every((name) => {
        const texts = new Set(received(name).map(({ text }) => text));
        return accepted.get(name)!.every((text) => texts.has(text));
      });
    const missing = () =>
      JSON.stringify(
        recipients.map((name) => {
          const texts = new Set(received(name).map(({ text }) => text));
          return [name, accepted.get(name)!.filter((text) => !texts.has(text))];
        }),
      );

    // 1. The NATS node holding most of the instances' connections hangs mid-traffic, then is killed
    // -9: everything sent through it meanwhile is lost. Nothing is sent after the kill, so no later
    // message's gap reveals the loss: only the re-read of the log when the connection comes back does.
    const busBefore = await Promise.all(instances().map((instance) => cluster.metric(instance, "chat_bus_received_total")));
    let killedNode = false;
    const first = traffic(100, () => killedNode);
    await waitUntil(
      () => sent >= 60,
      () => `only ${sent} sent`,
      60_000,
    );
    const connections = await nats.clientCounts();
    const victim = nats.nodes[connections.indexOf(Math.max(...connections))]!;
    nats.hang(victim);
    const sentAtHang = sent;
    await waitUntil(
      () => sent >= sentAtHang + 30,
      () => `only ${sent - sentAtHang} sent since the hang`,
      60_000,
    );
    await nats.kill(victim);
    killedNode = true;
    await first;
    await waitUntil(everythingArrived, missing, 30_000);
    // The messages really crossed over NATS (not only from the log).
    const busAfter = await Promise.all(instances().map((instance) => cluster.metric(instance, "chat_bus_received_total")));
    expect(busAfter.every((count, index) => count > busBefore[index]!)).toBe(true);

    // 2. kill -9 an instance holding a recipient's stream and two senders' requests, mid-traffic.
    const sentBefore = sent;
    const second = traffic(40);
    await waitUntil(
      () => sent >= sentBefore + 60,
      () => `only ${sent} sent`,
      60_000,
    );
    const killed = instances()[0]!;
    alive.delete(killed);
    killed.process.kill("SIGKILL");
    await killed.exited;
    await second;
    for (const name of recipients.filter((each) => home.get(each) === 0)) {
      const cutOff = readers.get(name)!.at(-1)!;
      await cutOff.closed(10_000);
      const lastId = messagesOf(cutOff).at(-1)?.id;
      const elsewhere = instances()[1]!;
      readers
        .get(name)!
        .push(await cluster.events(elsewhere, tokens.get(name)!, lastId === undefined ? undefined : String(lastId)));
    }
    await waitUntil(everythingArrived, missing, 30_000);
    // Let anything late or duplicated show up before counting.
    await sleep(1000);

    for (const name of recipients) {
      const messages = received(name);
      const texts = messages.map(({ text }) => text);
      expect(new Set(texts).size, `${name} got a message twice`).toBe(texts.length);
      // Nothing but what was sent: every message either accepted or cut off mid-request.
      expect(texts.filter((text) => !accepted.get(name)!.includes(text) && !uncertain.has(text))).toEqual([]);
      // Event ids count up with no gap, across the resume.
      expect(messages.map(({ id }) => id)).toEqual(messages.map((_, index) => messages[0]!.id + index));
      // Each sender's messages in the order they were sent.
      for (const sender of senders) {
        const order = texts.filter((text) => text.startsWith(`${sender}#`)).map((text) => Number(text.split("#")[1]));
        expect(order, `${sender} -> ${name}`).toEqual([...order].sort((x, y) => x - y));
      }
    }
    const total = recipients.reduce((sum, name) => sum + accepted.get(name)!.length, 0);
    expect(total).toBeGreaterThan(250);

    // Back to three nodes and three instances for the next test.
    await nats.restart(victim);
    cluster.instances[0] = await cluster.start(0);
    await untilConnected(cluster.instances[0].url);
    for (const name of [...senders, ...recipients])
      await cluster.call(cluster.instances[1]!, "POST", "/logout", tokens.get(name));
    for (const reader of [...readers.values()].flat()) await reader.close();
  }, 240_000);

  it("with every NATS node down, streams get every event from the log, and go live again when NATS returns", async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance];
    const [sender, luke, leia] = downUsers as [string, string, string];
    const senderToken = await cluster.login(a, sender);
    const lukeToken = await cluster.login(b, luke);
    const leiaToken = await cluster.login(c, leia);
    const lukeStream = await cluster.events(b, lukeToken);
    const leiaStream = await cluster.events(c, leiaToken);
    const texts = (reader: EventReader, type: string) =>
      reader.events.filter((event) => event.event === type).map((event) => (event.data as { text: string }).text);
    const post = async (path: string, json: unknown) => {
      const response = await cluster.call(a, "POST", path, senderToken, json);
      expect(response.status, await response.text()).toBe(201);
    };

    await post("/messages", { to: luke, text: "before" });
    await lukeStream.next("message", 10_000);
    await Promise.all(nats.nodes.map((node) => nats.kill(node)));

    // Down long enough to outlast a client that gives up reconnecting after a while (the NATS
    // client's default: 10 attempts, 2 s apart); a message every ~2 s meanwhile.
    const downSince = Date.now();
    let round = 0;
    while (Date.now() - downSince < 25_000) {
      await post("/messages", { to: luke, text: `down ${round}` });
      await post("/broadcasts", { text: `all down ${round}` });
      await waitUntil(
        () =>
          texts(lukeStream, "message").includes(`down ${round}`) && texts(leiaStream, "broadcast").includes(`all down ${round}`),
        () => `round ${round}: ${JSON.stringify([lukeStream.events, leiaStream.events])}`,
        20_000,
      );
      round++;
      await sleep(2000);
    }

    await nats.restart(...nats.nodes);
    for (const instance of [a, b, c]) await untilConnected(instance.url, 60_000);
    // Live again: luke's instance hears of new messages over NATS once more.
    const heardBefore = await cluster.metric(b, "chat_bus_received_total");
    let after = 0;
    await waitUntil(
      async () => {
        await post("/messages", { to: luke, text: `after ${after++}` });
        await sleep(400);
        return (await cluster.metric(b, "chat_bus_received_total")) > heardBefore;
      },
      () => `${b.url} never heard from NATS again:\n${b.output().slice(-2000)}`,
      40_000,
    );
    await waitUntil(
      () => texts(lukeStream, "message").includes(`after ${after - 1}`),
      () => JSON.stringify(lukeStream.events),
      10_000,
    );
    await sleep(500);
    const all = texts(lukeStream, "message");
    expect(all).toEqual([
      "before",
      ...Array.from({ length: round }, (_, index) => `down ${index}`),
      ...Array.from({ length: after }, (_, index) => `after ${index}`),
    ]);
    expect(texts(leiaStream, "broadcast")).toEqual(Array.from({ length: round }, (_, index) => `all down ${index}`));

    for (const [instance, token] of [
      [a, senderToken],
      [b, lukeToken],
      [c, leiaToken],
    ] as const)
      await cluster.call(instance, "POST", "/logout", token);
    await Promise.all([lukeStream.close(), leiaStream.close()]);
  }, 180_000);
});
