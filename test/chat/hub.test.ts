import { afterEach, describe, expect, it } from "vitest";
import type { DurableEvent, LiveEvent } from "../../src/chat/events.js";
import { announcementDelayMs, createLocalHub, type LocalHub, type Subscriber } from "../../src/chat/hub.js";

const decoder = new TextDecoder();

/** A stream stand-in that keeps each write the hub makes, as text, and each durable event. */
function recordingStream(username: string) {
  const writes: string[] = [];
  const delivered: number[] = [];
  const subscriber: Subscriber = {
    username,
    sessionId: `${username}-session`,
    deliver: (event) => delivered.push(event.id),
    notify: () => {},
    write: (frame) => writes.push(decoder.decode(frame)),
    end: () => {},
  };
  return { subscriber, writes, delivered, announced: () => writes.join("").match(/"username":"[^"]+"/g) ?? [] };
}

const at = "2026-11-25T14:00:00.000Z";
const presence = (username: string): LiveEvent => ({ type: "presence", data: { username, status: "online", at } });
const message = (id: number): DurableEvent => ({
  id,
  type: "message",
  data: { id, from: "hans", to: "luke", text: `m${id}`, sentAt: at },
});
const nothingExcluded = new Set<string>();
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let hub: LocalHub | undefined;
afterEach(() => hub?.stop());

function newHub() {
  hub = createLocalHub({ pingIntervalMs: 60_000 });
  return hub;
}

/** A hub whose delivery tallies are recorded call by call. */
function tallyingHub() {
  const calls: [string, number][] = [];
  hub = createLocalHub({
    pingIntervalMs: 60_000,
    telemetry: { eventsDelivered: (type, count) => calls.push([type, count]) },
  });
  return { hub, calls };
}

describe("announcements", () => {
  it("reach each open stream in one write per burst, in the order announced", async () => {
    const hub = newHub();
    const luke = recordingStream("luke");
    hub.attach(luke.subscriber);
    for (const name of ["hans", "leia", "yoda"]) hub.announce(presence(name), name, nothingExcluded);
    expect(luke.writes).toEqual([]);

    await wait(announcementDelayMs(1) + 30);
    expect(luke.writes).toHaveLength(1);
    expect(luke.announced()).toEqual(['"username":"hans"', '"username":"leia"', '"username":"yoda"']);
    expect(luke.writes[0]).toMatch(/^event: presence\ndata: .*\n\nevent: presence\n/);
  });

  it("leave out the subject's own streams and the users the subject blocked", async () => {
    const hub = newHub();
    const hans = recordingStream("hans");
    const luke = recordingStream("luke");
    const leia = recordingStream("leia");
    for (const stream of [hans, luke, leia]) hub.attach(stream.subscriber);
    hub.announce(presence("hans"), "hans", new Set(["leia"]));
    hub.announce(presence("yoda"), "yoda", nothingExcluded);

    await wait(announcementDelayMs(3) + 30);
    expect(hans.announced()).toEqual(['"username":"yoda"']);
    expect(luke.announced()).toEqual(['"username":"hans"', '"username":"yoda"']);
    expect(leia.announced()).toEqual(['"username":"yoda"']);
  });

  it("give a stream opened while they wait only what was announced after it opened", async () => {
    const hub = newHub();
    const early = recordingStream("early");
    hub.attach(early.subscriber);
    hub.announce(presence("hans"), "hans", nothingExcluded);
    const late = recordingStream("late");
    hub.attach(late.subscriber);
    hub.announce(presence("leia"), "leia", nothingExcluded);

    await wait(announcementDelayMs(2) + 30);
    expect(early.announced()).toEqual(['"username":"hans"', '"username":"leia"']);
    expect(late.announced()).toEqual(['"username":"leia"']);
  });

  it("go out before a durable event published after them", () => {
    const hub = newHub();
    const order: string[] = [];
    const luke = recordingStream("luke");
    hub.attach({
      ...luke.subscriber,
      write: (frame) => order.push(`write ${decoder.decode(frame).match(/"username":"(\w+)"/)?.[1]}`),
      deliver: (event) => order.push(`deliver ${event.id}`),
    });
    hub.announce(presence("hans"), "hans", nothingExcluded);
    hub.publish("luke", message(1));
    expect(order).toEqual(["write hans", "deliver 1"]);
  });

  it("are not hurried out by an event for a user whose last stream detached", () => {
    const hub = newHub();
    const hans = recordingStream("hans");
    hub.attach(hans.subscriber);
    hub.attach(recordingStream("luke").subscriber)();
    hub.announce(presence("yoda"), "yoda", nothingExcluded);
    // Nobody to deliver to: the hub forgot luke, so the announcement keeps waiting for its timer.
    hub.publish("luke", message(1));
    hub.notify("luke", 1);
    expect(hans.writes).toEqual([]);
  });

  it("reach nobody after the stream detached", async () => {
    const hub = newHub();
    const luke = recordingStream("luke");
    const detach = hub.attach(luke.subscriber);
    hub.announce(presence("hans"), "hans", nothingExcluded);
    detach();
    await wait(announcementDelayMs(1) + 30);
    expect(luke.writes).toEqual([]);
    expect(hub.streamCount()).toBe(0);
  });
  it("write nothing to a stream that none of the waiting announcements reach, nor when none wait", () => {
    const { hub, calls } = tallyingHub();
    const hans = recordingStream("hans");
    const leia = recordingStream("leia");
    hub.attach(hans.subscriber);
    hub.attach(leia.subscriber);
    // Its subject and the one user it leaves out: the announcement reaches no stream.
    hub.announce(presence("hans"), "hans", new Set(["leia"]));
    hub.publish("hans", message(1));
    // Nothing waits now: another event writes no announcements.
    hub.publish("leia", message(2));
    expect([hans.writes, leia.writes]).toEqual([[], []]);
    expect([hans.delivered, leia.delivered]).toEqual([[1], [2]]);
    expect(calls).toEqual([]);
  });

  it("give a stream opened while they wait nothing of what came after it that leaves it out", async () => {
    const { hub, calls } = tallyingHub();
    const early = recordingStream("early");
    hub.attach(early.subscriber);
    hub.announce(presence("hans"), "hans", nothingExcluded);
    const late = recordingStream("leia");
    hub.attach(late.subscriber);
    // After it opened: one about itself, one that leaves it out.
    hub.announce(presence("leia"), "leia", nothingExcluded);
    hub.announce(presence("yoda"), "yoda", new Set(["leia"]));

    await wait(announcementDelayMs(2) + 30);
    expect(early.announced()).toEqual(['"username":"hans"', '"username":"leia"', '"username":"yoda"']);
    expect(late.writes).toEqual([]);
    expect(calls).toEqual([["presence", 3]]);
  });
});

describe("announcementDelayMs", () => {
  it("grows with the open streams between 20 ms and 1 s", () => {
    expect(announcementDelayMs(0)).toBe(20);
    expect(announcementDelayMs(1_000)).toBe(100);
    expect(announcementDelayMs(10_000)).toBe(1000);
    expect(announcementDelayMs(50_000)).toBe(1000);
    expect(announcementDelayMs(4_000)).toBeGreaterThan(announcementDelayMs(2_000));
  });
});

/** A stream stand-in that also records notices and how it was ended. */
function fullStream(username: string, sessionId = `${username}-session`) {
  const recorded = recordingStream(username);
  const notified: number[] = [];
  const ended: (string | undefined)[] = [];
  const subscriber: Subscriber = {
    ...recorded.subscriber,
    sessionId,
    notify: (id) => notified.push(id),
    end: (reason) => ended.push(reason),
  };
  return { ...recorded, subscriber, notified, ended };
}

describe("the hub's streams", () => {
  it("counts attached streams per hub and per session, and a second detach changes nothing", () => {
    const hub = newHub();
    const first = fullStream("luke", "s1");
    const second = fullStream("luke", "s1");
    const other = fullStream("luke", "s2");
    const detachFirst = hub.attach(first.subscriber);
    hub.attach(second.subscriber);
    hub.attach(other.subscriber);
    expect(hub.streamCount()).toBe(3);
    expect(hub.sessionStreamCount("luke", "s1")).toBe(2);
    expect(hub.sessionStreamCount("luke", "s2")).toBe(1);
    expect(hub.sessionStreamCount("hans", "s1")).toBe(0);

    detachFirst();
    detachFirst();
    expect(hub.streamCount()).toBe(2);
    expect(hub.sessionStreamCount("luke", "s1")).toBe(1);
    // The user's other streams still get what is published to them.
    hub.publish("luke", message(7));
    expect([first.delivered, second.delivered, other.delivered]).toEqual([[], [7], [7]]);
  });

  it("delivers a durable event and a notice only to the streams of the user named", () => {
    const hub = newHub();
    const luke = fullStream("luke");
    const hans = fullStream("hans");
    hub.attach(luke.subscriber);
    hub.attach(hans.subscriber);
    hub.publish("luke", message(3));
    hub.notify("hans", 9);
    hub.publish("nobody", message(4));
    hub.notify("nobody", 5);
    expect([luke.delivered, luke.notified]).toEqual([[3], []]);
    expect([hans.delivered, hans.notified]).toEqual([[], [9]]);
  });

  it("ends only the streams of the session that ended, with its reason, and reports every end", () => {
    const ends: string[] = [];
    const hub = createLocalHub({ pingIntervalMs: 60_000, onSessionEnded: (sessionId) => ends.push(sessionId) });
    const ending = fullStream("luke", "old");
    const staying = fullStream("luke", "new");
    hub.attach(ending.subscriber);
    hub.attach(staying.subscriber);
    hub.endSession("luke", "old", "logout");
    hub.endSession("hans", "elsewhere", "timeout");
    expect(ending.ended).toEqual(["logout"]);
    expect(staying.ended).toEqual([]);
    expect(ends).toEqual(["old", "elsewhere"]);
    hub.closeAll();
    expect(staying.ended).toEqual([undefined]);
    hub.stop();
  });

  it("tells every stream to read the log when notices may have been missed", () => {
    let missed = 0;
    const hub = createLocalHub({ pingIntervalMs: 60_000, onNoticesMissed: () => missed++ });
    const luke = fullStream("luke");
    const hans = fullStream("hans");
    hub.attach(luke.subscriber);
    hub.attach(hans.subscriber);
    hub.catchUpAll();
    expect(missed).toBe(1);
    expect([luke.notified, hans.notified]).toEqual([[Number.MAX_SAFE_INTEGER], [Number.MAX_SAFE_INTEGER]]);
    hub.stop();
  });

  it("pings every open stream on one timer", async () => {
    const hub = createLocalHub({ pingIntervalMs: 30 });
    const luke = fullStream("luke");
    const hans = fullStream("hans");
    hub.attach(luke.subscriber);
    hub.attach(hans.subscriber);
    await wait(100);
    hub.stop();
    for (const stream of [luke, hans]) {
      expect(stream.writes.length).toBeGreaterThan(0);
      expect(new Set(stream.writes)).toEqual(new Set([": ping\n\n"]));
    }
  });

  it("once stopped, neither pings nor writes the announcements still waiting", async () => {
    const stopped = createLocalHub({ pingIntervalMs: 20 });
    const luke = fullStream("luke");
    stopped.attach(luke.subscriber);
    stopped.announce(presence("hans"), "hans", nothingExcluded);
    stopped.stop();
    await wait(announcementDelayMs(1) + 60);
    expect(luke.writes).toEqual([]);
  });

  it("counts each announcement once per stream it reached, by type", async () => {
    const delivered: Record<string, number> = {};
    const hub = createLocalHub({
      pingIntervalMs: 60_000,
      telemetry: { eventsDelivered: (type, count) => (delivered[type] = (delivered[type] ?? 0) + count) },
    });
    const hans = fullStream("hans");
    const luke = fullStream("luke");
    const leia = fullStream("leia");
    for (const stream of [hans, luke, leia]) hub.attach(stream.subscriber);
    hub.announce(presence("hans"), "hans", new Set(["leia"])); // reaches luke
    const late = fullStream("yoda");
    hub.attach(late.subscriber);
    hub.announce(presence("obiwan"), "obiwan", nothingExcluded); // reaches all four
    await wait(announcementDelayMs(4) + 30);
    expect(delivered).toEqual({ presence: 5 });
    expect(late.announced()).toEqual(['"username":"obiwan"']);
    hub.stop();
  });
});
