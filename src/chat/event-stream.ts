import { isDatabaseUnavailable, type Database } from "../db/client.js";
import type { DeliveredCursor } from "./event-log.js";
import { readEventsAfter, readStreamStart } from "./event-log.js";
import { AppError } from "./errors.js";
import { asSessionEndReason, encodeEvent, type DurableEvent, type SessionEndReason } from "./events.js";
import type { Hub, Subscriber } from "./hub.js";
import type { ChatTelemetry, StreamCloseReason, StreamInfo } from "./telemetry.js";

const REPLAY_PAGE = 500;
const MIN_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 2000;
const encoder = new TextEncoder();

export type EventStreamOptions = {
  db: Database;
  hub: Hub;
  cursor: DeliveredCursor;
  username: string;
  sessionId: string;
  /** The client's resume point (Last-Event-ID); undefined starts after what was already delivered. */
  lastEventId: string | undefined;
  bufferBytes: number;
  /** Streams one session may hold open on this instance at once. */
  maxStreamsPerSession: number;
  retryMs: number;
  onClose?: () => void;
  telemetry?: ChatTelemetry;
  /** Correlates the stream's open and close reports with the request that opened it. */
  requestId?: string;
};

/** Where a stream's bytes go, and how much of them the client has not taken yet. */
export type StreamSink = {
  write(bytes: Uint8Array): void;
  /** Bytes written and not yet taken by the client's connection. */
  queuedBytes(): number;
  end(): void;
  abort(error: Error): void;
};

/** What a sink reports back: room for more bytes, or the client gone. */
export type SinkEvents = { room(): void; gone(): void };

/**
 * One client's event stream: replays stored events after its resume point, then goes live, with
 * no gap and no duplicate. Live durable events are written only when they follow the last id
 * written; anything else (arriving mid-replay, early, after a gap) triggers a read of the log,
 * which is the source of truth. One object per open stream (thousands stay open for hours).
 */
class EventStream implements Subscriber, SinkEvents {
  readonly username: string;
  readonly sessionId: string;
  private readonly sink: StreamSink;
  private closed = false;
  private lastId = 0;
  // Until the resume point is known, deliveries only mark that the log must be read.
  private catchingUp = true;
  private catchUpAgain = false;
  /** Set while a catch-up that failed on an unreachable database waits to try again. */
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = MIN_RETRY_DELAY_MS;
  private detach: (() => void) | undefined;
  /** Resolved when the client takes bytes or the stream closes. */
  private roomWaiters: (() => void)[] = [];
  private readonly info: StreamInfo;
  private readonly openedAt = Date.now();

  constructor(
    private readonly options: EventStreamOptions,
    connect: (events: SinkEvents) => StreamSink,
  ) {
    this.username = options.username;
    this.sessionId = options.sessionId;
    this.info = {
      username: options.username,
      sessionId: options.sessionId,
      requestId: options.requestId,
      lastEventId: options.lastEventId,
    };
    this.sink = connect(this);
    options.telemetry?.streamOpened(this.info);
    this.start().catch((error: unknown) => this.fail(error));
  }

  // --- Subscriber (the hub) ---

  deliver(event: DurableEvent) {
    if (this.closed || event.id <= this.lastId) return;
    if (!this.catchingUp && event.id === this.lastId + 1) this.writeDurable(event);
    else void this.catchUp();
  }

  notify(id: number) {
    if (!this.closed && id > this.lastId) void this.catchUp();
  }

  /** Writes bytes; a reader that lets more than the buffer bound pile up is cut off (not a replay, which waits for room). */
  write(bytes: Uint8Array, cutOffWhenFull = true) {
    if (this.closed) return;
    this.sink.write(bytes);
    if (cutOffWhenFull && this.sink.queuedBytes() > this.options.bufferBytes) {
      this.close("slow_reader");
      this.sink.abort(new Error("event stream reader too slow"));
    }
  }

  end(reason?: SessionEndReason) {
    this.endStream(reason ? "session_ended" : "server_closed", reason);
  }

  // --- SinkEvents (the connection) ---

  room() {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  gone() {
    this.close("client_closed");
  }

  // --- the stream itself ---

  private async start() {
    const { db, hub, cursor, username, sessionId, lastEventId, telemetry } = this.options;
    // Attach before anything goes out: once the client sees the stream open, it gets every live event.
    this.detach = hub.attach(this);
    // Something goes out at once so the client (and any proxy) sees the stream open.
    this.write(encoder.encode(`retry: ${this.options.retryMs}\n\n`));
    // Checked once attached, closing the gap where the session ended while the stream opened.
    const position = await readStreamStart(db, username, sessionId);
    if (this.closed || !position) return;
    // The session ended as the stream opened: on a database server the end can commit before this
    // read and reach the hub after it, so this stream says why itself (the hub then finds it closed).
    if (!position.live) return this.endStream("session_ended", asSessionEndReason(position.endReason));
    const requested = parseEventId(lastEventId);
    if (lastEventId === undefined) {
      this.lastId = position.deliveredEventId;
    } else if (requested === undefined || requested > position.lastEventId) {
      this.write(encodeEvent({ type: "resync", data: { reason: "unknown_event_id", lastEventId } }));
      telemetry?.eventsDelivered("resync", 1);
      this.lastId = position.deliveredEventId;
    } else {
      // The client has everything up to here: a later stream without an id starts after it.
      cursor.advance(username, requested);
      const oldestKept = position.oldestEventId ?? position.lastEventId + 1;
      if (requested + 1 < oldestKept) {
        // Events after the resume point were pruned: say so, then replay everything still kept.
        this.write(encodeEvent({ type: "resync", data: { reason: "events_pruned", lastEventId } }));
        telemetry?.eventsDelivered("resync", 1);
        this.lastId = oldestKept - 1;
      } else {
        this.lastId = requested;
      }
    }
    // Attached before reading, so an event committed during the replay is either read or delivered.
    this.catchingUp = false;
    // Nothing stored past the resume point and nothing arrived meanwhile: no need to read the log.
    if (this.lastId < position.lastEventId || this.catchUpAgain) await this.catchUp();
  }

  private writeDurable(event: DurableEvent, cutOffWhenFull = true) {
    this.write(encodeEvent(event), cutOffWhenFull);
    this.lastId = event.id;
    const { telemetry } = this.options;
    if (!telemetry || this.closed) return;
    telemetry.eventsDelivered(event.type, 1);
    // Lag only for what was sent while this stream was open; replays of older events are not lag.
    const sentAt = "sentAt" in event.data ? Date.parse(event.data.sentAt) : Number.NaN;
    if (sentAt >= this.openedAt) telemetry.deliveryLag(event.type, (Date.now() - sentAt) / 1000);
  }

  private untilRoom(): Promise<void> {
    if (this.closed || this.sink.queuedBytes() < this.options.bufferBytes) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private async catchUp() {
    if (this.catchingUp) {
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    const { db, username } = this.options;
    try {
      do {
        this.catchUpAgain = false;
        let page: DurableEvent[];
        do {
          page = await readEventsAfter(db, username, this.lastId, REPLAY_PAGE);
          this.options.telemetry?.eventLogRead();
          if (this.closed) return;
          // A backlog larger than the buffer would cut off even a fast reader: replay at its pace.
          for (const event of page) {
            await this.untilRoom();
            if (this.closed) return;
            this.writeDurable(event, false);
          }
        } while (page.length === REPLAY_PAGE);
      } while (this.catchUpAgain && !this.closed);
    } catch (error) {
      if (this.closed) return;
      if (isDatabaseUnavailable(error)) {
        // The log is the source of truth and will be back: read it again soon rather than drop the client.
        this.retryDelayMs = Math.min(MAX_RETRY_DELAY_MS, this.retryDelayMs * 2);
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = undefined;
          void this.catchUp();
        }, this.retryDelayMs);
        return;
      }
      this.fail(error);
    } finally {
      this.catchingUp = false;
    }
    this.retryDelayMs = MIN_RETRY_DELAY_MS;
  }

  /** Closes the stream from the server side; with a session reason, first tells the client. */
  private endStream(closeReason: StreamCloseReason, sessionReason?: SessionEndReason) {
    if (this.closed) return;
    if (sessionReason) this.write(encodeEvent({ type: "session_ended", data: { reason: sessionReason } }));
    if (this.closed) return; // the farewell itself overflowed a slow reader's buffer
    if (sessionReason) {
      // The stream lasted to the end of its session: what it wrote counts as delivered.
      this.options.cursor.advance(this.username, this.lastId);
      this.options.telemetry?.eventsDelivered("session_ended", 1);
    }
    this.close(closeReason);
    this.sink.end();
  }

  private fail(error: unknown) {
    if (this.closed) return;
    this.close("error");
    this.sink.abort(error instanceof Error ? error : new Error(String(error)));
  }

  private close(reason: StreamCloseReason) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.detach?.();
    this.room();
    this.options.telemetry?.streamClosed(this.info, reason);
    this.options.onClose?.();
  }
}

/**
 * Opens a stream that writes to `connect`'s sink; it runs until the session, the client or the
 * server ends it. Throws too_many_streams, before connecting, when the session already holds its
 * share; a closed stream frees its slot.
 */
export function openEventStream(options: EventStreamOptions, connect: (events: SinkEvents) => StreamSink): void {
  const { hub, username, sessionId, maxStreamsPerSession } = options;
  if (hub.sessionStreamCount(username, sessionId) >= maxStreamsPerSession) {
    throw new AppError(
      "too_many_streams",
      `This session already has ${maxStreamsPerSession} event streams open, the most allowed; close one first`,
    );
  }
  new EventStream(options, connect);
}

function parseEventId(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
