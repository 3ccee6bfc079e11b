import net from "node:net";
import { nowMs } from "./clock.js";

export type Origin = { host: string; port: number };

export type HttpResponse = {
  status: number;
  headers: Map<string, string>;
  body: string;
};

export type RequestOptions = {
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
};

const HEAD_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");
/** node's http server closes idle keep-alive connections after 5 s; start afresh before that race. */
const IDLE_RECONNECT_MS = 4000;

/** Parses a response head (status line and headers, without the blank line). */
export function parseHead(head: string): { status: number; headers: Map<string, string> } {
  const lines = head.split("\r\n");
  const statusLine = lines[0] ?? "";
  const status = Number(statusLine.slice(9, 12));
  if (!statusLine.startsWith("HTTP/1.") || !Number.isInteger(status)) {
    throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers };
}

/**
 * Decodes a chunked transfer-encoded body incrementally, handing each data slice on
 * without copying; `done` turns true after the last (empty) chunk and its trailer.
 */
export class ChunkedDecoder {
  done = false;
  private remaining = 0;
  private state: "size" | "data" | "data-end" | "trailer" = "size";
  private partial: Buffer | null = null;

  constructor(private readonly onData: (slice: Buffer) => void) {}

  /** Feeds bytes; returns the offset just past the body's end once done, else -1. */
  feed(input: Buffer): number {
    let buffer = input;
    let offset = 0;
    if (this.partial) {
      buffer = Buffer.concat([this.partial, input]);
      this.partial = null;
    }
    const consumedBefore = buffer.length - input.length;
    while (offset < buffer.length && !this.done) {
      if (this.state === "data") {
        const take = Math.min(this.remaining, buffer.length - offset);
        this.onData(buffer.subarray(offset, offset + take));
        offset += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = "data-end";
        continue;
      }
      const lineEnd = buffer.indexOf(CRLF, offset);
      if (lineEnd < 0) {
        this.partial = Buffer.from(buffer.subarray(offset));
        return -1;
      }
      const line = buffer.toString("latin1", offset, lineEnd);
      offset = lineEnd + 2;
      if (this.state === "data-end") {
        if (line !== "") throw new Error("chunked body: missing CRLF after chunk data");
        this.state = "size";
      } else if (this.state === "size") {
        const size = parseInt(line, 16);
        if (!Number.isFinite(size) || size < 0) throw new Error(`chunked body: bad chunk size ${JSON.stringify(line)}`);
        if (size === 0) this.state = "trailer";
        else {
          this.remaining = size;
          this.state = "data";
        }
      } else if (line === "") {
        this.done = true;
      }
    }
    return this.done ? offset - consumedBefore : -1;
  }
}

type Pending = {
  payload: string;
  resolve: (response: HttpResponse) => void;
  reject: (error: Error) => void;
};

/**
 * One keep-alive HTTP/1.1 connection over a raw socket, one request at a time (no
 * pipelining): node's own client costs several times more CPU per request, which would
 * make the load generator the bottleneck. Reconnects lazily when the server closed an
 * idle connection; a request in flight when the connection drops fails rather than retries.
 */
export class HttpConnection {
  private socket: net.Socket | null = null;
  private connecting: Promise<void> | null = null;
  private queue: Pending[] = [];
  private inFlight: Pending | null = null;
  private received: Buffer | null = null;
  private response: { status: number; headers: Map<string, string>; chunks: Buffer[]; length: number } | null = null;
  private bodyRemaining = -1;
  private chunked: ChunkedDecoder | null = null;
  private closeAfterResponse = false;
  private lastUsedAt = 0;
  private readonly hostHeader: string;
  /** Requests this connection has completed, for reports. */
  completed = 0;

  constructor(readonly origin: Origin) {
    this.hostHeader = `${origin.host}:${origin.port}`;
  }

  /** Requests waiting behind the one in flight. */
  get queued(): number {
    return this.queue.length;
  }

  get busy(): boolean {
    return this.inFlight !== null || this.queue.length > 0;
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    if (options.headers) for (const name in options.headers) head += `${name}: ${options.headers[name]}\r\n`;
    let payload: string;
    if (options.body === undefined) payload = `${head}\r\n`;
    else {
      const body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      const typeHeader = options.headers?.["Content-Type"] ? "" : "Content-Type: application/json\r\n";
      payload = `${head}${typeHeader}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ payload, resolve, reject });
      if (!this.inFlight) this.sendNext();
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    this.failAll(new Error("connection closed by client"));
  }

  private sendNext(): void {
    if (this.inFlight || this.queue.length === 0) return;
    if (!this.socket) {
      if (!this.connecting) {
        this.connecting = this.connect().then(
          () => {
            this.connecting = null;
            this.sendNext();
          },
          (error: Error) => {
            this.connecting = null;
            this.failAll(error);
          },
        );
      }
      return;
    }
    if (nowMs() - this.lastUsedAt > IDLE_RECONNECT_MS) {
      const stale = this.socket;
      this.socket = null;
      stale.destroy();
      this.sendNext();
      return;
    }
    const next = this.queue.shift()!;
    this.inFlight = next;
    this.socket.write(next.payload);
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.origin.host, port: this.origin.port, noDelay: true });
      let connected = false;
      socket.once("connect", () => {
        connected = true;
        this.socket = socket;
        this.received = null;
        this.lastUsedAt = nowMs();
        resolve();
      });
      socket.on("data", (data) => this.onData(data));
      socket.on("error", (error) => {
        if (!connected) reject(error);
      });
      socket.on("close", () => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.resetResponse();
        if (this.inFlight) {
          const lost = this.inFlight;
          this.inFlight = null;
          lost.reject(new Error("connection closed before the response ended"));
        }
        this.sendNext();
      });
    });
  }

  private onData(data: Buffer): void {
    let buffer = this.received ? Buffer.concat([this.received, data]) : data;
    this.received = null;
    while (buffer.length > 0) {
      if (!this.response) {
        const headEnd = buffer.indexOf(HEAD_END);
        if (headEnd < 0) {
          this.received = buffer;
          return;
        }
        const { status, headers } = parseHead(buffer.toString("latin1", 0, headEnd));
        buffer = buffer.subarray(headEnd + 4);
        this.response = { status, headers, chunks: [], length: 0 };
        this.closeAfterResponse = headers.get("connection")?.toLowerCase() === "close";
        if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
          const response = this.response;
          this.chunked = new ChunkedDecoder((slice) => {
            response.chunks.push(slice);
            response.length += slice.length;
          });
        } else {
          this.bodyRemaining = Number(headers.get("content-length") ?? 0);
        }
      }
      if (this.chunked) {
        const end = this.chunked.feed(buffer);
        if (end < 0) return;
        buffer = buffer.subarray(end);
      } else {
        const take = Math.min(this.bodyRemaining, buffer.length);
        if (take > 0) {
          this.response.chunks.push(buffer.subarray(0, take));
          this.response.length += take;
        }
        this.bodyRemaining -= take;
        buffer = buffer.subarray(take);
        if (this.bodyRemaining > 0) return;
      }
      this.finishResponse();
    }
  }

  private finishResponse(): void {
    const response = this.response!;
    const body = response.chunks.length === 1 ? response.chunks[0]!.toString() : Buffer.concat(response.chunks).toString();
    this.resetResponse();
    const done = this.inFlight;
    this.inFlight = null;
    this.completed++;
    this.lastUsedAt = nowMs();
    if (this.closeAfterResponse) {
      const socket = this.socket;
      this.socket = null;
      socket?.destroy();
    }
    done?.resolve({ status: response.status, headers: response.headers, body });
    this.sendNext();
  }

  private resetResponse(): void {
    this.response = null;
    this.chunked = null;
    this.bodyRemaining = -1;
    this.received = null;
  }

  private failAll(error: Error): void {
    const pending = this.inFlight ? [this.inFlight, ...this.queue] : this.queue;
    this.inFlight = null;
    this.queue = [];
    for (const request of pending) request.reject(error);
  }
}

/** Connections handed out round-robin, for setup work such as logging in thousands of users. */
export class HttpPool {
  private readonly connections: HttpConnection[];
  private next = 0;

  constructor(origin: Origin, size: number) {
    this.connections = Array.from({ length: size }, () => new HttpConnection(origin));
  }

  /** The connection with the fewest waiting requests, starting from the round-robin position. */
  pick(): HttpConnection {
    let best = this.connections[this.next]!;
    this.next = (this.next + 1) % this.connections.length;
    if (!best.busy) return best;
    for (const connection of this.connections) {
      if (!connection.busy) return connection;
      if (connection.queued < best.queued) best = connection;
    }
    return best;
  }

  request(method: string, path: string, options?: RequestOptions): Promise<HttpResponse> {
    return this.pick().request(method, path, options);
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }
}
