import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../../bench/load/clock.js";
import { ChunkedDecoder, HttpConnection, type Origin } from "../../bench/load/http-client.js";
import { openStream, SseStream, type SseEvent } from "../../bench/load/sse-client.js";
import { metricDelta, parseMetrics, sumMetric } from "../../bench/metrics-scrape.js";
import { Samples, upsertSection } from "../../bench/report.js";

/** SSE bodies the test server sends, written in the given pieces with a pause between. */
const sseScripts: Record<string, string[]> = {
  split: [
    "retry: 1000\n\n",
    'event: presence\ndata: {"username":"a"}\n',
    "\nid: 1\nevent: mess",
    'age\ndata: {"n":1}\n\n',
    "event: presence\ndata: {}\n\n: ping\n\n",
  ],
  crlf: ['retry: 1000\r\n\r\nid: 7\r\nevent: message\r\ndata: {"n":7}\r\n\r\n'],
};

let server: http.Server;
let origin: Origin;
const connectionsSeen = new Set<unknown>();
const lastEventIds: (string | undefined)[] = [];

beforeAll(async () => {
  server = http.createServer(async (request, response) => {
    connectionsSeen.add(request.socket);
    const url = new URL(request.url!, "http://x");
    if (url.pathname === "/echo") {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = JSON.stringify({
        method: request.method,
        auth: request.headers.authorization,
        body: Buffer.concat(chunks).toString(),
      });
      response.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      response.end(body);
    } else if (url.pathname === "/chunked") {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("hello ");
      await new Promise((resolve) => setTimeout(resolve, 5));
      response.end("world");
    } else if (url.pathname === "/events") {
      lastEventIds.push(request.headers["last-event-id"] as string | undefined);
      const script = request.headers.authorization?.replace("Bearer ", "") ?? "";
      if (script === "refuse") {
        const body = JSON.stringify({ code: "unauthorized" });
        response.writeHead(401, { "content-type": "application/problem+json", "content-length": Buffer.byteLength(body) });
        response.end(body);
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      if (script === "unicode") {
        const bytes = Buffer.from('id: 2\nevent: message\ndata: {"text":"héllo ✓"}\n\n');
        // Split inside the multi-byte characters.
        for (const [start, end] of [
          [0, 38],
          [38, 39],
          [39, 48],
          [48, bytes.length],
        ] as const) {
          response.write(bytes.subarray(start, end));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return;
      }
      for (const piece of sseScripts[script] ?? []) {
        response.write(piece);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = { host: "127.0.0.1", port: (server.address() as AddressInfo).port };
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("Samples", () => {
  it("gives nearest-rank percentiles", () => {
    const samples = new Samples();
    for (let value = 100; value >= 1; value--) samples.add(value);
    expect(samples.summary()).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it("reports NaN when it has no samples", () => {
    expect(new Samples().percentile(50)).toBeNaN();
  });
});

describe("ChunkedDecoder", () => {
  it("decodes a body split at every possible byte", () => {
    const wire = Buffer.from("5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\nNEXT");
    for (let cut = 1; cut < wire.length - 4; cut++) {
      const parts: string[] = [];
      const decoder = new ChunkedDecoder((slice) => parts.push(slice.toString()));
      const first = decoder.feed(wire.subarray(0, cut));
      const end = first >= 0 ? first : decoder.feed(wire.subarray(cut));
      expect(parts.join("")).toBe("hello world");
      expect(decoder.done).toBe(true);
      const rest = first >= 0 ? wire.subarray(first) : wire.subarray(cut).subarray(end);
      expect(rest.toString()).toBe("NEXT");
    }
  });
});

describe("HttpConnection", () => {
  it("sends JSON and reuses one keep-alive socket for sequential requests", async () => {
    const connection = new HttpConnection(origin);
    const before = connectionsSeen.size;
    for (let i = 0; i < 5; i++) {
      const response = await connection.request("POST", "/echo", { headers: { Authorization: "Bearer t" }, body: { i } });
      expect(response.status).toBe(201);
      expect(JSON.parse(response.body)).toEqual({ method: "POST", auth: "Bearer t", body: `{"i":${i}}` });
    }
    expect(connectionsSeen.size - before).toBe(1);
    connection.close();
  });

  it("queues concurrent requests and answers each in order", async () => {
    const connection = new HttpConnection(origin);
    const responses = await Promise.all([1, 2, 3].map((i) => connection.request("POST", "/echo", { body: String(i) })));
    expect(responses.map((response) => JSON.parse(response.body).body)).toEqual(["1", "2", "3"]);
    connection.close();
  });

  it("reads chunked bodies", async () => {
    const connection = new HttpConnection(origin);
    const response = await connection.request("GET", "/chunked");
    expect(response.status).toBe(200);
    expect(response.body).toBe("hello world");
    expect((await connection.request("GET", "/nowhere")).status).toBe(404);
    connection.close();
  });

  it("fails requests when the server cannot be reached", async () => {
    const connection = new HttpConnection({ host: "127.0.0.1", port: 1 });
    await expect(connection.request("GET", "/")).rejects.toThrow();
  });
});

describe("SseStream", () => {
  const collect = async (token: string, options: { countPresenceOnly?: boolean; lastEventId?: string } = {}) => {
    const events: SseEvent[] = [];
    const stream = await openStream({ origin, token, ...options, onEvent: (event) => events.push(event) });
    return { stream, events };
  };

  it("parses events split across chunks, with ids, retry and comments", async () => {
    const { stream, events } = await collect("split");
    await waitUntil(() => stream.commentCount === 1, 2000, 5);
    expect(stream.retry).toBe(1000);
    expect(events.map((event) => [event.type, event.id, event.data])).toEqual([
      ["presence", undefined, '{"username":"a"}'],
      ["message", "1", '{"n":1}'],
      ["presence", undefined, "{}"],
    ]);
    expect(stream.presenceCount).toBe(2);
    stream.close();
  });

  it("counts presence notices without handing them over when asked to", async () => {
    const { stream, events } = await collect("split", { countPresenceOnly: true });
    await waitUntil(() => stream.commentCount === 1, 2000, 5);
    expect(stream.presenceCount).toBe(2);
    expect(events.map((event) => event.type)).toEqual(["message"]);
    stream.close();
  });

  it("handles CRLF line ends and multi-byte characters split across chunks", async () => {
    const crlf = await collect("crlf");
    await waitUntil(() => crlf.events.length === 1, 2000, 5);
    expect(crlf.events[0]).toMatchObject({ type: "message", id: "7", data: '{"n":7}' });
    crlf.stream.close();
    const unicode = await collect("unicode");
    await waitUntil(() => unicode.events.length === 1, 2000, 5);
    expect(JSON.parse(unicode.events[0]!.data)).toEqual({ text: "héllo ✓" });
    unicode.stream.close();
  });

  it("sends Last-Event-ID and reports the server closing the stream", async () => {
    let closedByServer = false;
    const stream = new SseStream({
      origin,
      token: "split",
      lastEventId: "41",
      onClose: (_stream, byClient) => (closedByServer = !byClient),
    });
    await stream.opened;
    expect(lastEventIds.at(-1)).toBe("41");
    server.closeAllConnections();
    await waitUntil(() => stream.closed, 2000, 5);
    expect(closedByServer).toBe(true);
  });

  it("rejects with the status and body when the server refuses the stream", async () => {
    await expect(openStream({ origin, token: "refuse" })).rejects.toThrow(/status 401: .*unauthorized/);
  });
});

describe("upsertSection", () => {
  it("appends a labelled section, then replaces it in place", () => {
    const first = upsertSection("# Benchmarks\n\nintro\n", "latest", "one");
    expect(first).toContain("<!-- bench:begin latest -->\none\n<!-- bench:end latest -->");
    const second = upsertSection(`${first}\nafter\n`, "latest", "two");
    expect(second).not.toContain("one");
    expect(second).toContain("two");
    expect(second.indexOf("intro")).toBeLessThan(second.indexOf("two"));
    expect(second.indexOf("two")).toBeLessThan(second.indexOf("after"));
  });
});

describe("metrics scrape", () => {
  const exposition = (received: number, reads: number) =>
    [
      "# HELP chat_bus_received_total Notices this instance received",
      "# TYPE chat_bus_received_total counter",
      `chat_bus_received_total{kind="event"} ${received}`,
      'chat_bus_received_total{kind="presence"} 3',
      'chat_bus_received_total{kind="session"} 0',
      `chat_event_log_reads_total ${reads}`,
      'chat_events_delivered_total{type="message"} 7',
      'chat_events_delivered_total{type="broadcast"} 2',
      "",
    ].join("\n");

  it("sums a counter's series, all of them or those with a label, and differences two scrapes", () => {
    const before = parseMetrics(exposition(10, 4));
    const after = parseMetrics(exposition(25, 9));
    expect(sumMetric(after, "chat_bus_received_total")).toBe(28);
    expect(sumMetric(after, "chat_bus_received_total", 'kind="event"')).toBe(25);
    expect(sumMetric(after, "chat_events_delivered_total", 'type="message"')).toBe(7);
    expect(metricDelta(before, after, "chat_bus_received_total")).toBe(15);
    expect(metricDelta(before, after, "chat_event_log_reads_total")).toBe(5);
    // A name that only prefixes another is not that metric; a missing one is undefined, not 0.
    expect(sumMetric(after, "chat_bus_received")).toBeUndefined();
    expect(metricDelta(before, after, "chat_bus_published_total")).toBeUndefined();
  });
});
