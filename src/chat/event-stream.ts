import { isDatabaseUnavailable, type Database } from "../db/client.js";
import type { DeliveredCursor } from "./event-log.js";
import { readEventsAfter, readStreamStart } from "./event-log.js";
import { encodeEvent, type DurableEvent, type SessionEndReason } from "./events.js";
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
  retryMs: number;
  onClose?: () => void;
  telemetry?: ChatTelemetry;
  /** Correlates the stream's open and close reports with the request that opened it. */
  requestId?: string;
};

/**
 * One client's event stream: replays stored events after its resume point, then goes live, with
 * no gap and no duplicate. Live durable events are written only when they follow the last id
 * written; anything else (arriving mid-replay, early, after a gap) triggers a read of the log,
 * which is the source of truth.
 */
export function openEventStream(options: EventStreamOptions): ReadableStream<Uint8Array> {
  const { db, hub, cursor, username, sessionId } = options;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let lastId = 0;
  // Until the resume point is known, deliveries only mark that the log must be read.
  let catchingUp = true;
  let catchUpAgain = false;
  /** Set while a catch-up that failed on an unreachable database waits to try again. */
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = MIN_RETRY_DELAY_MS;
  let detach = () => {};
  const { telemetry } = options;
  const info: StreamInfo = { username, sessionId, requestId: options.requestId, lastEventId: options.lastEventId };
  const openedAt = Date.now();

  const close = (reason: StreamCloseReason) => {
    if (closed) return;
    closed = true;
    clearTimeout(retryTimer);
    detach();
    wakeRoomWaiters();
    telemetry?.streamClosed(info, reason);
    options.onClose?.();
  };

  /** Resolved when the reader takes from the queue or the stream closes. */
  let roomWaiters: (() => void)[] = [];
  const wakeRoomWaiters = () => {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const wake of waiters) wake();
  };
  const untilRoom = () =>
    closed || (controller.desiredSize ?? 0) > 0 ? Promise.resolve() : new Promise<void>((resolve) => roomWaiters.push(resolve));

  /** Queues bytes; a reader that lets more than the buffer bound pile up is cut off (not a replay, which waits for room). */
  const write = (bytes: Uint8Array, cutOffWhenFull = true) => {
    if (closed) return;
    controller.enqueue(bytes);
    if (cutOffWhenFull && (controller.desiredSize ?? 0) < 0) {
      close("slow_reader");
      controller.error(new Error("event stream reader too slow"));
    }
  };

  const writeDurable = (event: DurableEvent, cutOffWhenFull = true) => {
    write(encodeEvent(event), cutOffWhenFull);
    lastId = event.id;
    if (!telemetry || closed) return;
    telemetry.eventsDelivered(event.type, 1);
    // Lag only for what was sent while this stream was open; replays of older events are not lag.
    const sentAt = typeof event.data.sentAt === "string" ? Date.parse(event.data.sentAt) : Number.NaN;
    if (sentAt >= openedAt) telemetry.deliveryLag(event.type, (Date.now() - sentAt) / 1000);
  };

  /** Closes the stream from the server side; with a session reason, first tells the client. */
  const endStream = (closeReason: StreamCloseReason, sessionReason?: SessionEndReason) => {
    if (closed) return;
    if (sessionReason) write(encodeEvent({ type: "session_ended", data: { reason: sessionReason } }));
    if (closed) return; // the farewell itself overflowed a slow reader's buffer
    // The stream lasted to the end of its session: what it wrote counts as delivered.
    if (sessionReason) cursor.advance(username, lastId);
    if (sessionReason) telemetry?.eventsDelivered("session_ended", 1);
    close(closeReason);
    controller.close();
  };

  const catchUp = async () => {
    if (catchingUp) {
      catchUpAgain = true;
      return;
    }
    catchingUp = true;
    try {
      do {
        catchUpAgain = false;
        let page: DurableEvent[];
        do {
          page = await readEventsAfter(db, username, lastId, REPLAY_PAGE);
          if (closed) return;
          // A backlog larger than the buffer would cut off even a fast reader: replay at its pace.
          for (const event of page) {
            await untilRoom();
            if (closed) return;
            writeDurable(event, false);
          }
        } while (page.length === REPLAY_PAGE);
      } while (catchUpAgain && !closed);
    } catch (error) {
      if (closed) return;
      if (isDatabaseUnavailable(error)) {
        // The log is the source of truth and will be back: read it again soon rather than drop the client.
        retryDelayMs = Math.min(MAX_RETRY_DELAY_MS, retryDelayMs * 2);
        retryTimer ??= setTimeout(() => {
          retryTimer = undefined;
          void catchUp();
        }, retryDelayMs);
        return;
      }
      close("error");
      controller.error(error);
    } finally {
      catchingUp = false;
    }
    retryDelayMs = MIN_RETRY_DELAY_MS;
  };

  const subscriber: Subscriber = {
    username,
    sessionId,
    deliver(event) {
      if (closed || event.id <= lastId) return;
      if (!catchingUp && event.id === lastId + 1) writeDurable(event);
      else void catchUp();
    },
    notify(id) {
      if (!closed && id > lastId) void catchUp();
    },
    write,
    end(reason?: SessionEndReason) {
      endStream(reason ? "session_ended" : "server_closed", reason);
    },
  };

  const start = async () => {
    // Attach before anything goes out: once the client sees the stream open, it gets every live event.
    detach = hub.attach(subscriber);
    // Something goes out at once so the client (and any proxy) sees the stream open.
    write(encoder.encode(`retry: ${options.retryMs}\n\n`));
    // Checked once attached, closing the gap where the session ended while the stream opened.
    const position = await readStreamStart(db, username, sessionId);
    if (closed || !position) return;
    if (!position.live) return endStream("session_ended");
    const requested = parseEventId(options.lastEventId);
    if (options.lastEventId === undefined) {
      lastId = position.deliveredEventId;
    } else if (requested === undefined || requested > position.lastEventId) {
      write(encodeEvent({ type: "resync", data: { reason: "unknown_event_id", lastEventId: options.lastEventId } }));
      telemetry?.eventsDelivered("resync", 1);
      lastId = position.deliveredEventId;
    } else {
      lastId = requested;
      // The client has everything up to here: a later stream without an id starts after it.
      cursor.advance(username, requested);
    }
    // Attached before reading, so an event committed during the replay is either read or delivered.
    catchingUp = false;
    // Nothing stored past the resume point and nothing arrived meanwhile: no need to read the log.
    if (lastId < position.lastEventId || catchUpAgain) await catchUp();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        telemetry?.streamOpened(info);
        start().catch((error) => {
          if (closed) return;
          close("error");
          controller.error(error);
        });
      },
      pull() {
        wakeRoomWaiters();
      },
      cancel() {
        close("client_closed");
      },
    },
    { highWaterMark: options.bufferBytes, size: (chunk) => chunk.byteLength },
  );
}

function parseEventId(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
