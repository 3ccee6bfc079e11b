import net from "node:net";
import { ChunkedDecoder, parseHead, type Origin } from "../../../bench/load/http-client.js";

/** How the body is framed on the wire: honestly, or in one of the ways a broken or hostile client lies. */
export type Framing =
  | "content-length"
  | "chunked"
  | "bad-chunk-size"
  | "length-over-body"
  | "length-under-body"
  | "length-and-chunked"
  | "length-not-a-number"
  | "two-lengths"
  | "other-transfer-encoding"
  | "no-length";

/** One request as bytes go on the wire: method, target and header values are sent unchecked. */
export type RawRequest = {
  method: string;
  /** The request-target: path and query, as sent (any bytes, as a latin1 string). */
  target: string;
  headers: [string, string][];
  body: Buffer | undefined;
  framing: Framing;
};

export type RawOutcome =
  | {
      kind: "response";
      status: number;
      headers: Map<string, string>;
      body: Buffer;
      /** An event stream that was read for a moment and then closed by us. */
      stream: boolean;
    }
  /** The server closed the connection without a response (expected only after a body lie). */
  | { kind: "closed" }
  | { kind: "timeout" };

const HEAD_END = Buffer.from("\r\n\r\n");

function framingHeaders(framing: Framing, length: number): [string, string][] {
  switch (framing) {
    case "content-length":
      return [["Content-Length", String(length)]];
    case "chunked":
    case "bad-chunk-size":
      return [["Transfer-Encoding", "chunked"]];
    case "length-over-body":
      return [["Content-Length", String(length + 10)]];
    case "length-under-body":
      return [["Content-Length", String(Math.max(0, length - 3))]];
    case "length-and-chunked":
      return [
        ["Content-Length", String(length)],
        ["Transfer-Encoding", "chunked"],
      ];
    case "length-not-a-number":
      return [["Content-Length", `${length}x`]];
    case "two-lengths":
      return [
        ["Content-Length", String(length)],
        ["Content-Length", String(length + 1)],
      ];
    case "other-transfer-encoding":
      return [["Transfer-Encoding", "gzip, chunked"]];
    case "no-length":
      return [];
  }
}

function encodeBody(framing: Framing, body: Buffer): Buffer {
  switch (framing) {
    case "chunked":
    case "length-and-chunked":
    case "other-transfer-encoding": {
      // Two chunks, so a reader that expects one piece is caught too.
      const half = Math.floor(body.length / 2);
      const chunk = (part: Buffer) =>
        part.length ? [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")] : [];
      return Buffer.concat([...chunk(body.subarray(0, half)), ...chunk(body.subarray(half)), Buffer.from("0\r\n\r\n")]);
    }
    case "bad-chunk-size":
      return Buffer.concat([Buffer.from("zz\r\n"), body, Buffer.from("\r\n0\r\n\r\n")]);
    default:
      return body;
  }
}

/** The request's bytes; `Connection: close` always, so a response ends when the server closes. */
export function serialize(request: RawRequest, origin: Origin): Buffer {
  // No body and honest framing: no length header at all, as a client sends a GET.
  const bodyless = request.body === undefined && request.framing === "content-length";
  const body = request.body ?? Buffer.alloc(0);
  const headers: [string, string][] = [
    ["Host", `${origin.host}:${origin.port}`],
    ...request.headers,
    ...(bodyless ? [] : framingHeaders(request.framing, body.length)),
    ["Connection", "close"],
  ];
  const head = `${request.method} ${request.target} HTTP/1.1\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), bodyless ? body : encodeBody(request.framing, body)]);
}

function parseResponse(received: Buffer, stream: boolean): RawOutcome {
  const headEnd = received.indexOf(HEAD_END);
  if (headEnd < 0) return { kind: "closed" };
  const { status, headers } = parseHead(received.toString("latin1", 0, headEnd));
  const rest = received.subarray(headEnd + HEAD_END.length);
  let body = rest;
  if (!stream && headers.get("transfer-encoding")?.includes("chunked")) {
    const parts: Buffer[] = [];
    new ChunkedDecoder((slice) => parts.push(Buffer.from(slice))).feed(rest);
    body = Buffer.concat(parts);
  }
  return { kind: "response", status, headers, body, stream };
}

/**
 * Sends `bytes` on a fresh connection and reads the answer until the server closes. An event
 * stream is read for `streamHoldMs` and then closed. After a body that promised more bytes than
 * it had, our side half-closes, so the server sees the client give up rather than waiting.
 */
export function sendRaw(
  origin: Origin,
  bytes: Buffer,
  options: { halfClose: boolean; streamHoldMs: number; timeoutMs: number },
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(origin.port, origin.host);
    const chunks: Buffer[] = [];
    let settled = false;
    let streaming = false;
    const finish = (outcome: () => RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome());
    };
    const timer = setTimeout(() => finish(() => ({ kind: "timeout" })), options.timeoutMs);
    socket.on("connect", () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (streaming) return;
      const received = Buffer.concat(chunks);
      const headEnd = received.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const head = received.toString("latin1", 0, headEnd);
      if (/^HTTP\/1\.1 200/.test(head) && /\r\ncontent-type: text\/event-stream/i.test(head)) {
        streaming = true;
        setTimeout(() => finish(() => parseResponse(Buffer.concat(chunks), true)), options.streamHoldMs);
      }
    });
    // A server that answers early (413) may reset the connection while we still write: keep what arrived.
    socket.on("error", () => finish(() => parseResponse(Buffer.concat(chunks), streaming)));
    socket.on("close", () => finish(() => parseResponse(Buffer.concat(chunks), streaming)));
  });
}
