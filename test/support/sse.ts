import { createParser, type EventSourceMessage } from "eventsource-parser";

export type ReceivedEvent = { id?: string; event: string; data: unknown };

/**
 * Reads a text/event-stream Response with a real SSE parser. `next()` waits for the next event
 * (optionally of one type); `comments` collects `: ping` and the like.
 */
export class EventReader {
  readonly events: ReceivedEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  ended = false;
  private cursor = 0;
  private waiters: (() => void)[] = [];
  private reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(readonly response: Response) {
    if (!response.body) throw new Error(`no body (status ${response.status})`);
    const reader = response.body.getReader();
    this.reader = reader;
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        this.events.push({ id: message.id, event: message.event ?? "message", data: JSON.parse(message.data) });
        this.wake();
      },
      onComment: (comment) => {
        this.comments.push(comment.trim());
        this.wake();
      },
      onRetry: (retry) => (this.retry = retry),
    });
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {
        // a cut-off or cancelled stream simply ends
      }
      this.ended = true;
      this.wake();
    })();
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private async waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      if (this.ended) throw new Error(`stream ended while waiting for ${what}; got ${JSON.stringify(this.events)}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next event not yet taken (of `type`, if given; earlier events of other types are passed over). */
  next(type?: string, timeoutMs = 5000): Promise<ReceivedEvent> {
    return this.waitFor(
      () => {
        while (this.cursor < this.events.length) {
          const event = this.events[this.cursor++]!;
          if (type === undefined || event.event === type) return event;
        }
        return undefined;
      },
      timeoutMs,
      type ?? "an event",
    );
  }

  /** Waits until the stream has ended (closed by the server). */
  closed(timeoutMs = 5000): Promise<true> {
    return this.waitFor(() => (this.ended ? true : undefined), timeoutMs, "the stream to close");
  }

  /** Waits until a comment (e.g. "ping") has arrived. */
  comment(text: string, timeoutMs = 5000): Promise<string> {
    return this.waitFor(() => this.comments.find((comment) => comment === text), timeoutMs, `comment "${text}"`);
  }

  /** Lets `ms` pass and returns the events of `type` that arrived meanwhile (to show something did NOT arrive). */
  async quietFor(ms: number, type?: string): Promise<ReceivedEvent[]> {
    const from = this.events.length;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.events.slice(from).filter((event) => type === undefined || event.event === type);
  }

  async close() {
    await this.reader.cancel().catch(() => {});
  }
}
