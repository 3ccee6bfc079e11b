import { setTimeout as sleep } from "node:timers/promises";
import { createParser } from "eventsource-parser";

export type EventStreamOptions = {
  baseUrl: string;
  token: string;
  /** One SSE message: its event name ("message" when it has none) and its raw data. */
  onEvent(eventName: string, data: string): void;
  /** The server refused the token: the session is over and the stream stops for good. */
  onUnauthorized(): void;
  /** Wait before the first reconnection, until the server's `retry:` says otherwise. */
  retryMs?: number;
  /** The longest wait between reconnections while the server keeps failing. */
  maxRetryMs?: number;
  /** A stream silent this long is presumed dead and reopened; the server pings at least every 15 s. */
  silenceTimeoutMs?: number;
};

export type EventStream = {
  /** The id of the last durable event received; sent as Last-Event-ID on reconnection. */
  readonly lastEventId: string | undefined;
  /** Stops the stream for good; resolves once it has stopped. */
  close(): Promise<void>;
};

type Attempt = "streamed" | "failed" | "unauthorized";

/** Reads GET /events and reconnects with Last-Event-ID whenever the connection drops, so nothing is missed. */
export function openEventStream(options: EventStreamOptions): EventStream {
  const abort = new AbortController();
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const silenceTimeoutMs = options.silenceTimeoutMs ?? 45_000;
  let retryMs = options.retryMs ?? 1000;
  let lastEventId: string | undefined;

  let body: ReadableStreamDefaultReader<Uint8Array> | undefined;

  const readOnce = async (): Promise<Attempt> => {
    const headers: Record<string, string> = {
      accept: "text/event-stream",
      authorization: `Bearer ${options.token}`,
    };
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    let response: Response;
    try {
      response = await fetch(new URL("/events", options.baseUrl), { headers, signal: abort.signal });
    } catch {
      return "failed";
    }
    if (response.status === 401) return "unauthorized";
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      return "failed";
    }
    const parser = createParser({
      onEvent: (message) => {
        if (message.id !== undefined) lastEventId = message.id === "" ? undefined : message.id;
        options.onEvent(message.event ?? "message", message.data);
      },
      onRetry: (milliseconds) => (retryMs = milliseconds),
    });
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    body = reader;
    const watchdog = setTimeout(() => void reader.cancel().catch(() => undefined), silenceTimeoutMs);
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        watchdog.refresh();
        parser.feed(decoder.decode(chunk.value, { stream: true }));
      }
    } catch {
      // the connection dropped; the caller reconnects
    } finally {
      clearTimeout(watchdog);
      body = undefined;
    }
    return "streamed";
  };

  const running = (async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      const attempt = await readOnce();
      if (abort.signal.aborted) return;
      if (attempt === "unauthorized") return options.onUnauthorized();
      failures = attempt === "streamed" ? 0 : failures + 1;
      const wait = Math.min(Math.max(retryMs, 100) * 2 ** failures, maxRetryMs);
      await sleep(wait, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  })();

  return {
    get lastEventId() {
      return lastEventId;
    },
    async close() {
      // Cancel the body before aborting: undici can leave a read pending for ever when the request is
      // aborted after the server has finished the response but before it was all read.
      void body?.cancel().catch(() => undefined);
      abort.abort();
      await running;
    },
  };
}
