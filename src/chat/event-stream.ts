import type { Database } from "../db/client.js";
import type { DeliveredCursor } from "./event-log.js";
import { readEventCursor, readEventsAfter } from "./event-log.js";
import { encodeEvent, type DurableEvent, type SessionEndReason } from "./events.js";
import type { Hub, Subscriber } from "./hub.js";

const REPLAY_PAGE = 500;
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
  /** Checked once the stream is attached, closing the gap where the session ended while it opened. */
  isSessionLive: () => Promise<boolean>;
  onClose?: () => void;
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
  let catchingUp = false;
  let catchUpAgain = false;
  let detach = () => {};

  const close = () => {
    if (closed) return;
    closed = true;
    detach();
    options.onClose?.();
  };

  /** Queues bytes; a reader that lets more than the buffer bound pile up is cut off. */
  const write = (bytes: Uint8Array) => {
    if (closed) return;
    controller.enqueue(bytes);
    if ((controller.desiredSize ?? 0) < 0) {
      close();
      controller.error(new Error("event stream reader too slow"));
    }
  };

  const writeDurable = (event: DurableEvent) => {
    write(encodeEvent(event));
    lastId = event.id;
    cursor.advance(username, event.id);
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
          for (const event of page) writeDurable(event);
        } while (page.length === REPLAY_PAGE);
      } while (catchUpAgain && !closed);
    } catch (error) {
      if (!closed) {
        close();
        controller.error(error);
      }
    } finally {
      catchingUp = false;
    }
  };

  const subscriber: Subscriber = {
    username,
    sessionId,
    deliver(event) {
      if (closed || event.id <= lastId) return;
      if (!catchingUp && event.id === lastId + 1) writeDurable(event);
      else void catchUp();
    },
    write,
    end(reason?: SessionEndReason) {
      if (closed) return;
      if (reason) write(encodeEvent({ type: "session_ended", data: { reason } }));
      close();
      controller.close();
    },
  };

  const start = async () => {
    // Something goes out at once so the client (and any proxy) sees the stream open.
    write(encoder.encode(`retry: ${options.retryMs}\n\n`));
    const position = await readEventCursor(db, username);
    if (closed || !position) return;
    const requested = parseEventId(options.lastEventId);
    if (options.lastEventId === undefined) {
      lastId = position.deliveredEventId;
    } else if (requested === undefined || requested > position.lastEventId) {
      write(encodeEvent({ type: "resync", data: { reason: "unknown_event_id", lastEventId: options.lastEventId } }));
      lastId = position.deliveredEventId;
    } else {
      lastId = requested;
    }
    // Attach before reading, so an event committed during the replay is either read or delivered.
    detach = hub.attach(subscriber);
    if (!(await options.isSessionLive())) return subscriber.end();
    await catchUp();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        start().catch((error) => {
          if (closed) return;
          close();
          controller.error(error);
        });
      },
      cancel() {
        close();
      },
    },
    { highWaterMark: options.bufferBytes, size: (chunk) => chunk.byteLength },
  );
}

function parseEventId(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
