import type { Transaction } from "../db/client.js";
import { encodeComment, encodeEvent, type DurableEvent, type LiveEvent, type SessionEndReason } from "./events.js";
import type { ChatTelemetry } from "./telemetry.js";

/** What the hub needs from an open event stream. */
export type Subscriber = {
  readonly username: string;
  readonly sessionId: string;
  /** A durable event committed for this user; may arrive late, twice, or ahead of a gap. */
  deliver(event: DurableEvent): void;
  /** Events up to `id` are committed for this user (data not at hand: read the log). */
  notify(id: number): void;
  /** Bytes of an already-encoded live frame or comment. */
  write(frame: Uint8Array): void;
  /** Close the stream; with a reason, first tell the client its session ended. */
  end(reason?: SessionEndReason): void;
};

/**
 * The seam between the domain and the open streams. Everything that reaches a stream goes through
 * here, after its transaction committed, so another implementation can fan out across instances.
 */
export type Hub = {
  attach(subscriber: Subscriber): () => void;
  /** Called inside the transaction that appends events, so a notice can commit with them. */
  inTransaction?(tx: Transaction, appended: readonly { username: string; id: number }[]): Promise<void>;
  publish(username: string, event: DurableEvent): void;
  /** A live event for every open stream except the subject's own and the excluded users'. */
  announce(event: LiveEvent, subject: string, excluded: ReadonlySet<string>): void;
  endSession(username: string, sessionId: string, reason: SessionEndReason): void;
  /** Ends every stream (shutdown); their clients resume elsewhere. */
  closeAll(): void;
  streamCount(): number;
};

export type LocalHub = Hub & {
  /** Tells this process's streams of `username` that events up to `id` exist. */
  notify(username: string, id: number): void;
  /** Every local stream re-reads the log (after a missed-notification window). */
  catchUpAll(): void;
  stop(): void;
};

/** The in-process hub: one shared ping timer, streams indexed by user. */
export function createLocalHub(options: {
  pingIntervalMs: number;
  telemetry?: Pick<ChatTelemetry, "eventsDelivered">;
}): LocalHub {
  const byUser = new Map<string, Set<Subscriber>>();
  let count = 0;
  const ping = encodeComment("ping");
  const pingTimer = setInterval(() => {
    for (const subscribers of byUser.values()) for (const subscriber of subscribers) subscriber.write(ping);
  }, options.pingIntervalMs);
  pingTimer.unref();

  return {
    attach(subscriber) {
      let subscribers = byUser.get(subscriber.username);
      if (!subscribers) byUser.set(subscriber.username, (subscribers = new Set()));
      subscribers.add(subscriber);
      count++;
      let attached = true;
      return () => {
        if (!attached) return;
        attached = false;
        count--;
        subscribers.delete(subscriber);
        if (subscribers.size === 0 && byUser.get(subscriber.username) === subscribers) byUser.delete(subscriber.username);
      };
    },
    publish(username, event) {
      const subscribers = byUser.get(username);
      if (subscribers) for (const subscriber of subscribers) subscriber.deliver(event);
    },
    notify(username, id) {
      const subscribers = byUser.get(username);
      if (subscribers) for (const subscriber of subscribers) subscriber.notify(id);
    },
    catchUpAll() {
      for (const subscribers of byUser.values()) for (const subscriber of subscribers) subscriber.notify(Number.MAX_SAFE_INTEGER);
    },
    announce(event, subject, excluded) {
      const frame = encodeEvent(event);
      let written = 0;
      for (const [username, subscribers] of byUser) {
        if (username === subject || excluded.has(username)) continue;
        for (const subscriber of subscribers) subscriber.write(frame);
        written += subscribers.size;
      }
      if (written > 0) options.telemetry?.eventsDelivered(event.type, written);
    },
    endSession(username, sessionId, reason) {
      const subscribers = byUser.get(username);
      if (!subscribers) return;
      for (const subscriber of [...subscribers]) if (subscriber.sessionId === sessionId) subscriber.end(reason);
    },
    closeAll() {
      for (const subscribers of [...byUser.values()]) for (const subscriber of [...subscribers]) subscriber.end();
    },
    streamCount: () => count,
    stop() {
      clearInterval(pingTimer);
    },
  };
}
