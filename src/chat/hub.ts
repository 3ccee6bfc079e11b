import type { CommitNotices } from "./event-log.js";
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
  /** Where the event log announces committed events to other instances; absent when none listen. */
  readonly commitNotices?: CommitNotices;
  publish(username: string, event: DurableEvent): void;
  /**
   * A live event for every open stream except the subject's own and the excluded users'. Goes out
   * within announcementDelayMs, together with the others announced meanwhile.
   */
  announce(event: LiveEvent, subject: string, excluded: ReadonlySet<string>): void;
  endSession(username: string, sessionId: string, reason: SessionEndReason): void;
  /** Ends every stream (shutdown); their clients resume elsewhere. */
  closeAll(): void;
  streamCount(): number;
  /** Streams of one session open on this instance. */
  sessionStreamCount(username: string, sessionId: string): number;
  /** How this instance reaches the others, and whether that way is up now. */
  fanOut(): FanOut;
};

/**
 * The way committed events, presence and session ends reach other instances: none (one instance
 * on the embedded database), PostgreSQL LISTEN/NOTIFY, or NATS. `connected` is false while the
 * NATS connection is down (streams then read the log every second).
 */
type FanOut = { kind: "single-instance" | "postgres" | "nats"; connected: boolean; description: string };

export type LocalHub = Hub & {
  /** Tells this process's streams of `username` that events up to `id` exist. */
  notify(username: string, id: number): void;
  /** Every local stream re-reads the log (after a missed-notification window). */
  catchUpAll(): void;
  stop(): void;
};

/**
 * How long announcements wait to be written together: a burst of logins then costs each open stream
 * one write per flush instead of one per login. Grows with the streams a flush writes, so flushes
 * cost at most ~10,000 stream writes a second however many are open: 20 ms up to 200 streams,
 * 100 ms at 1,000, 1 s (the most) from 10,000.
 */
export const announcementDelayMs = (streams: number) => Math.min(1000, Math.max(20, streams / 10));

type Announcement = { frame: Uint8Array; type: LiveEvent["type"]; subject: string; excluded: ReadonlySet<string> };

/** The in-process hub: one shared ping timer, streams indexed by user, announcements coalesced. */
export function createLocalHub(options: {
  pingIntervalMs: number;
  telemetry?: Pick<ChatTelemetry, "eventsDelivered">;
  /** Every session end, local or told by another instance, streams or not. */
  onSessionEnded?: (sessionId: string) => void;
  /** Notices from other instances may have been lost (catchUpAll). */
  onNoticesMissed?: () => void;
}): LocalHub {
  const byUser = new Map<string, Set<Subscriber>>();
  let count = 0;
  const ping = encodeComment("ping");
  const pingTimer = setInterval(() => {
    for (const subscribers of byUser.values()) for (const subscriber of subscribers) subscriber.write(ping);
  }, options.pingIntervalMs);
  pingTimer.unref();

  let pending: Announcement[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  /** Streams attached while announcements waited, with how many were waiting then. */
  let lateJoiners = new Map<Subscriber, number>();

  /** Writes the waiting announcements: one shared buffer for most streams, a filtered one for the few they leave out. */
  const flushAnnouncements = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const batch = pending;
    if (batch.length === 0) return;
    pending = [];
    const shared = concatFrames(batch);
    const leftOut = new Set<string>();
    for (const { subject, excluded } of batch) {
      leftOut.add(subject);
      for (const username of excluded) leftOut.add(username);
    }
    const delivered = new Map<LiveEvent["type"], number>();
    const tally = (announcements: readonly Announcement[], streams: number) => {
      for (const { type } of announcements) delivered.set(type, (delivered.get(type) ?? 0) + streams);
    };
    const joined = lateJoiners;
    lateJoiners = new Map();
    const reaches = (username: string) => (announcement: Announcement) =>
      announcement.subject !== username && !announcement.excluded.has(username);
    let sharedStreams = 0;
    for (const [username, subscribers] of byUser) {
      const own = leftOut.has(username) ? batch.filter(reaches(username)) : batch;
      const bytes = own === batch ? shared : own.length > 0 ? concatFrames(own) : undefined;
      for (const subscriber of subscribers) {
        const joinedAt = joined.get(subscriber);
        if (joinedAt !== undefined) {
          // Opened while these waited: only what was announced after it opened.
          const since = batch.slice(joinedAt).filter(reaches(username));
          if (since.length > 0) subscriber.write(concatFrames(since));
          tally(since, 1);
        } else if (bytes) {
          subscriber.write(bytes);
          if (own === batch) sharedStreams++;
          else tally(own, 1);
        }
      }
    }
    tally(batch, sharedStreams);
    for (const [type, streams] of delivered) if (streams > 0) options.telemetry?.eventsDelivered(type, streams);
  };

  return {
    attach(subscriber) {
      let subscribers = byUser.get(subscriber.username);
      if (!subscribers) byUser.set(subscriber.username, (subscribers = new Set()));
      subscribers.add(subscriber);
      count++;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: marked with 0 waiting, a stream gets all of the next flush that reaches it, as unmarked: the check only saves the map entry.
      if (pending.length > 0) lateJoiners.set(subscriber, pending.length);
      let attached = true;
      return () => {
        if (!attached) return;
        attached = false;
        count--;
        subscribers.delete(subscriber);
        // A user's set is replaced only after it emptied and was deleted, so it is still the user's here.
        if (subscribers.size === 0) byUser.delete(subscriber.username);
      };
    },
    // Announcements made before an event go out before it, as they would have without the delay.
    publish(username, event) {
      const subscribers = byUser.get(username);
      if (!subscribers) return;
      flushAnnouncements();
      for (const subscriber of subscribers) subscriber.deliver(event);
    },
    notify(username, id) {
      const subscribers = byUser.get(username);
      if (!subscribers) return;
      flushAnnouncements();
      for (const subscriber of subscribers) subscriber.notify(id);
    },
    catchUpAll() {
      options.onNoticesMissed?.();
      flushAnnouncements();
      for (const subscribers of byUser.values()) for (const subscriber of subscribers) subscriber.notify(Number.MAX_SAFE_INTEGER);
    },
    announce(event, subject, excluded) {
      pending.push({ frame: encodeEvent(event), type: event.type, subject, excluded });
      flushTimer ??= setTimeout(flushAnnouncements, announcementDelayMs(count));
    },
    endSession(username, sessionId, reason) {
      options.onSessionEnded?.(sessionId);
      const subscribers = byUser.get(username);
      if (!subscribers) return;
      flushAnnouncements();
      for (const subscriber of [...subscribers]) if (subscriber.sessionId === sessionId) subscriber.end(reason);
    },
    closeAll() {
      flushAnnouncements();
      for (const subscribers of [...byUser.values()]) for (const subscriber of [...subscribers]) subscriber.end();
    },
    streamCount: () => count,
    fanOut: () => ({ kind: "single-instance", connected: true, description: "single instance" }),
    sessionStreamCount(username, sessionId) {
      let streams = 0;
      // Stryker disable next-line ArrayDeclaration: a made-up entry has no session id, so it counts as none.
      for (const subscriber of byUser.get(username) ?? []) if (subscriber.sessionId === sessionId) streams++;
      return streams;
    },
    stop() {
      clearInterval(pingTimer);
      clearTimeout(flushTimer);
      flushTimer = undefined;
    },
  };
}

function concatFrames(announcements: readonly Announcement[]): Uint8Array {
  // Stryker disable next-line ConditionalExpression: Buffer.concat of one frame is the same bytes; the check saves the copy.
  if (announcements.length === 1) return (announcements[0] as Announcement).frame;
  return Buffer.concat(announcements.map(({ frame }) => frame));
}
