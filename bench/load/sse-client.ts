import net from "node:net";
import { StringDecoder } from "node:string_decoder";
import { createParser, type EventSourceParser } from "eventsource-parser";
import { nowMs } from "./clock.js";
import { ChunkedDecoder, parseHead, type Origin } from "./http-client.js";

export type SseEvent = {
  /** The `event:` field, "message" when absent (as EventSource does). */
  type: string;
  id: string | undefined;
  data: string;
  /** nowMs() when the socket handed over the bytes that completed this event. */
  receivedAt: number;
};

export type SseStreamOptions = {
  origin: Origin;
  token: string;
  lastEventId?: string | undefined;
  /**
   * Count `presence` events instead of parsing them: opening 10,000 streams brings ~50
   * million notices, and parsing each in JavaScript would make the reader the bottleneck.
   */
  countPresenceOnly?: boolean;
  onEvent?: (event: SseEvent, stream: SseStream) => void;
  /** Called once when the stream ends for any reason; `byClient` tells whether close() did it. */
  onClose?: (stream: SseStream, byClient: boolean) => void;
};

const HEAD_END = Buffer.from("\r\n\r\n");
const EVENT_END = Buffer.from("\n\n");
const PRESENCE_PREFIX = Buffer.from("event: presence\n");
const PRESENCE_PREFIX_COMPACT = Buffer.from("event:presence\n");

/**
 * One `GET /events` stream over a raw socket. The body is split into events at blank
 * lines with Buffer.indexOf (native), each event is parsed with eventsource-parser, and
 * presence notices can be counted without being decoded. Falls back to feeding
 * eventsource-parser everything when the server uses CR line ends.
 */
export class SseStream {
  /** Resolves once the 200 head and the first body bytes have arrived; rejects on any other answer. */
  readonly opened: Promise<void>;
  openedAt = 0;
  closed = false;
  closedByClient = false;
  /** Why the stream failed to open or ended, when it did not end by close(). */
  error: Error | null = null;
  status = 0;
  presenceCount = 0;
  eventCount = 0;
  commentCount = 0;
  retry: number | undefined;
  bytes = 0;
  /** nowMs() of the chunk that completed the latest event. */
  lastEventAt = 0;

  private readonly socket: net.Socket;
  private readonly parser: EventSourceParser;
  private received: Buffer | null = null;
  private headDone = false;
  private chunked: ChunkedDecoder | null = null;
  private pending: Buffer | null = null;
  private crLineEnds: StringDecoder | null = null;
  private chunkTime = 0;
  private errorBody: Buffer[] = [];
  private refusal: { contentLength: number; received: number } | null = null;
  private resolveOpened!: () => void;
  private rejectOpened!: (error: Error) => void;

  constructor(private readonly options: SseStreamOptions) {
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => {});
    this.parser = createParser({
      onEvent: (event) => {
        this.eventCount++;
        this.lastEventAt = this.chunkTime;
        const type = event.event ?? "message";
        if (type === "presence") this.presenceCount++;
        options.onEvent?.({ type, id: event.id, data: event.data, receivedAt: this.chunkTime }, this);
      },
      onRetry: (retry) => {
        this.retry = retry;
      },
      onComment: () => {
        this.commentCount++;
      },
    });
    let head = `GET /events HTTP/1.1\r\nHost: ${options.origin.host}:${options.origin.port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${options.token}\r\n`;
    if (options.lastEventId !== undefined) head += `Last-Event-ID: ${options.lastEventId}\r\n`;
    this.socket = net.connect({ host: options.origin.host, port: options.origin.port, noDelay: true });
    this.socket.on("connect", () => this.socket.write(`${head}\r\n`));
    this.socket.on("data", (data) => {
      this.chunkTime = nowMs();
      try {
        this.onData(data);
      } catch (error) {
        this.fail(error as Error);
      }
    });
    this.socket.on("error", (error) => this.fail(error));
    this.socket.on("close", () => this.finish());
  }

  close(): void {
    if (this.closed) return;
    this.closedByClient = true;
    this.socket.destroy();
    this.finish();
  }

  private fail(error: Error): void {
    this.error ??= error;
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.openedAt) {
      const body = Buffer.concat(this.errorBody).toString();
      this.error ??= new Error(`GET /events: ${this.status ? `status ${this.status}: ${body}` : "closed before answering"}`);
      this.rejectOpened(this.error);
    }
    this.options.onClose?.(this, this.closedByClient);
  }

  private onData(data: Buffer): void {
    this.bytes += data.length;
    let buffer = data;
    if (!this.headDone) {
      buffer = this.received ? Buffer.concat([this.received, data]) : data;
      const headEnd = buffer.indexOf(HEAD_END);
      if (headEnd < 0) {
        this.received = buffer;
        return;
      }
      this.received = null;
      const { status, headers } = parseHead(buffer.toString("latin1", 0, headEnd));
      this.status = status;
      this.headDone = true;
      buffer = buffer.subarray(headEnd + 4);
      const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked") ?? false;
      if (status !== 200 || !headers.get("content-type")?.startsWith("text/event-stream")) {
        this.refusal = { contentLength: Number(headers.get("content-length") ?? 0), received: 0 };
        if (chunked) this.chunked = new ChunkedDecoder((slice) => this.errorBody.push(Buffer.from(slice)));
      } else if (chunked) {
        this.chunked = new ChunkedDecoder((slice) => this.onBody(slice));
      }
    }
    if (this.refusal) {
      this.readRefusal(buffer);
      return;
    }
    if (buffer.length === 0) return;
    if (this.chunked) {
      const end = this.chunked.feed(buffer);
      if (end >= 0) this.fail(new Error("event stream body ended"));
    } else {
      this.onBody(buffer);
    }
  }

  /** Reads the body of a non-200 answer, then fails with it. */
  private readRefusal(buffer: Buffer): void {
    const refusal = this.refusal!;
    let complete: boolean;
    if (this.chunked) complete = this.chunked.feed(buffer) >= 0;
    else {
      this.errorBody.push(Buffer.from(buffer));
      refusal.received += buffer.length;
      complete = refusal.received >= refusal.contentLength;
    }
    if (complete) this.fail(new Error(`GET /events: status ${this.status}: ${Buffer.concat(this.errorBody).toString()}`));
  }

  private onBody(slice: Buffer): void {
    if (!this.openedAt) {
      this.openedAt = this.chunkTime;
      this.resolveOpened();
    }
    if (this.crLineEnds) {
      this.parser.feed(this.crLineEnds.write(slice));
      return;
    }
    if (slice.includes(13)) {
      // CR or CRLF line ends: let eventsource-parser handle every byte from here on.
      this.crLineEnds = new StringDecoder("utf8");
      if (this.pending) this.parser.feed(this.crLineEnds.write(this.pending));
      this.parser.feed(this.crLineEnds.write(slice));
      this.pending = null;
      return;
    }
    let position = 0;
    if (this.pending) {
      // Finish the event that straddles the previous slice without copying this whole slice.
      const pending = this.pending;
      if (pending[pending.length - 1] === 0x0a && slice[0] === 0x0a) {
        this.pending = null;
        this.onBlock(pending, 0, pending.length - 1);
        position = 1;
      } else {
        const end = slice.indexOf(EVENT_END);
        if (end < 0) {
          this.pending = Buffer.concat([pending, slice]);
          return;
        }
        this.pending = null;
        const block = Buffer.concat([pending, slice.subarray(0, end)]);
        this.onBlock(block, 0, block.length);
        position = end + 2;
      }
    }
    for (;;) {
      const end = slice.indexOf(EVENT_END, position);
      if (end < 0) break;
      if (end > position) this.onBlock(slice, position, end);
      position = end + 2;
    }
    if (position < slice.length) this.pending = slice.subarray(position);
  }

  private onBlock(buffer: Buffer, start: number, end: number): void {
    if (this.options.countPresenceOnly && isPresenceBlock(buffer, start, end)) {
      this.presenceCount++;
      this.eventCount++;
      this.lastEventAt = this.chunkTime;
      return;
    }
    this.parser.feed(`${buffer.toString("utf8", start, end)}\n\n`);
  }
}

/** Whether an event block starts with `event: presence` (or `event:presence`) on its own line. */
function isPresenceBlock(buffer: Buffer, start: number, end: number): boolean {
  // Byte by byte in JavaScript: a native compare call per notice costs more than the comparison.
  let prefix = PRESENCE_PREFIX;
  if (buffer[start + 6] !== 0x20) prefix = PRESENCE_PREFIX_COMPACT;
  const length = prefix.length;
  if (end - start <= length) return false;
  for (let i = 0; i < length; i++) if (buffer[start + i] !== prefix[i]) return false;
  return true;
}

/** Opens a stream; the promise settles when it is open (first body bytes) or has failed. */
export async function openStream(options: SseStreamOptions): Promise<SseStream> {
  const stream = new SseStream(options);
  await stream.opened;
  return stream;
}
