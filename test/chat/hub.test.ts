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
