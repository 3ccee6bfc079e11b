import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DurableEvent, SessionEndReason } from "../../src/chat/events.js";
import { createLocalHub, type Subscriber } from "../../src/chat/hub.js";
import { createNatsHub } from "../../src/chat/nats-hub.js";
import { waitUntil } from "../support/wait.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

type Hub = Awaited<ReturnType<typeof createNatsHub>>;

/** A stream stand-in that records what the hub tells it, and whether the bus was up when told to read the log. */
function recorder(hub: () => Hub, username: string, sessionId = `${username}-session`) {
  const seen = {
    delivered: [] as DurableEvent[],
    notified: [] as { id: number; connected: boolean }[],
    frames: "",
    ended: [] as (SessionEndReason | undefined)[],
  };
  const subscriber: Subscriber = {
    username,
    sessionId,
    deliver: (event) => seen.delivered.push(event),
    notify: (id) => seen.notified.push({ id, connected: hub().fanOut().connected }),
    write: (frame) => (seen.frames += Buffer.from(frame).toString("utf8")),
    end: (reason) => seen.ended.push(reason),
  };
  return { subscriber, seen };
}

const presence = (username: string) =>
  ({ type: "presence", data: { username, status: "online", at: new Date().toISOString() } }) as const;

/** Two hubs (two instances) over one nats-server, in this process: what crosses, and what the streams are told. */
describe("the NATS hub", () => {
  let nats: NatsServer;
  let sender: Hub;
  let receiver: Hub;
  const sessionsEnded: string[] = [];
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);

  beforeAll(async () => {
    nats = await startNatsServer(14223);
    const servers = [nats.url];
    sender = await createNatsHub({ servers, local: createLocalHub({ pingIntervalMs: 60_000 }), onError });
    const local = createLocalHub({ pingIntervalMs: 60_000, onSessionEnded: (id) => sessionsEnded.push(id) });
    receiver = await createNatsHub({ servers, local, onError });
  }, 30_000);
  afterAll(async () => {
    await sender?.stop();
    await receiver?.stop();
    await nats?.stop("SIGKILL");
  });

  it("tells a stream to read the log once the server has its user's interest, then hands it published events", async () => {
    const { subscriber, seen } = recorder(() => receiver, "luke");
    const detach = receiver.attach(subscriber);
    // An event published before the subscription reached the server went nowhere: the log has it.
    await waitUntil(() => seen.notified.some(({ id }) => id === Number.MAX_SAFE_INTEGER), "a read of the log");
    const event: DurableEvent = {
      id: 7,
      type: "message",
      data: { id: 3, from: "hans", to: "luke", text: "hi", sentAt: new Date().toISOString() },
    };
    sender.publish("luke", event);
    await waitUntil(() => seen.delivered.length === 1, "the event");
    expect(seen.delivered).toEqual([event]);
    // Other nodes of a NATS cluster learn of the interest later still: the log is read once more.
    const reads = () => seen.notified.filter(({ id }) => id === Number.MAX_SAFE_INTEGER).length;
    await waitUntil(() => reads() === 2, "the second read of the log");
    await sleep(1500);
    expect(reads()).toBe(2);
    detach();
  });

  it("carries presence with the users the subject blocked, so the receiver filters without a query", async () => {
    const luke = recorder(() => receiver, "luke.skywalker");
    const yoda = recorder(() => receiver, "yoda");
    const detach = [receiver.attach(luke.subscriber), receiver.attach(yoda.subscriber)];
    sender.announce(presence("hans"), "hans", new Set(["yoda"]));
    await waitUntil(() => luke.seen.frames.includes('"username":"hans"'), "the presence notice");
    await sleep(200);
    expect(luke.seen.frames.match(/event: presence/g)).toHaveLength(1);
    expect(yoda.seen.frames).not.toContain("presence");
    for (const undo of detach) undo();
  });

  it("tells every instance of a session end, whether it holds the session's streams or not", async () => {
    const { subscriber, seen } = recorder(() => receiver, "leia", "leia-1");
    const detach = receiver.attach(subscriber);
    sender.endSession("leia", "leia-1", "logout");
    sender.endSession("vader", "vader-1", "timeout");
    await waitUntil(() => sessionsEnded.includes("vader-1"), "the second session end");
    expect(sessionsEnded).toEqual(["leia-1", "vader-1"]);
    expect(seen.ended).toEqual(["logout"]);
    detach();
  });

  it("makes streams read the log every second while NATS is down, and once more when it is back", async () => {
    const { subscriber, seen } = recorder(() => receiver, "obi.wan");
    const detach = receiver.attach(subscriber);
    await waitUntil(() => seen.notified.length === 2, "the two reads of the log a new subscription makes");
    seen.notified.length = 0;

    await nats.stop("SIGKILL");
    await waitUntil(() => !receiver.fanOut().connected, "the hub to notice NATS is gone");
    await sleep(2500);
    expect(seen.notified.filter(({ connected }) => !connected).length).toBeGreaterThanOrEqual(2);

    await nats.restart();
    await waitUntil(() => receiver.fanOut().connected, "the hub to reconnect", 45_000);
    expect(seen.notified.filter(({ connected }) => connected)).toEqual([{ id: Number.MAX_SAFE_INTEGER, connected: true }]);
    const polled = seen.notified.length;
    await sleep(1500);
    expect(seen.notified).toHaveLength(polled);
    expect(receiver.fanOut()).toMatchObject({ kind: "nats", connected: true, description: `nats (${nats.url})` });
    detach();
  }, 120_000);

  it("reported no error", () => {
    expect(errors).toEqual([]);
  });
});
