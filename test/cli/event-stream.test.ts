import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openEventStream, type EventStream } from "../../src/cli/event-stream.js";

type Connection = { request: IncomingMessage; response: ServerResponse };

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An /events endpoint the test drives by hand: each connection is handed over to `onConnection`. */
async function eventServer(onConnection: (connection: Connection, index: number) => void) {
  const connections: Connection[] = [];
  const server = createServer((request, response) => {
    connections.push({ request, response });
    onConnection({ request, response }, connections.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo; // listening on TCP, so never a pipe name
  return { baseUrl: `http://127.0.0.1:${port}`, connections };
}

function startStream(baseUrl: string, extra: { silenceTimeoutMs?: number } = {}) {
  const received: string[] = [];
  let unauthorized = false;
  const stream: EventStream = openEventStream({
    baseUrl,
    token: "secret",
    retryMs: 10,
    ...extra,
    onEvent: (eventName, data) => received.push(`${eventName} ${data}`),
    onUnauthorized: () => (unauthorized = true),
  });
  cleanups.push(() => stream.close());
  return { stream, received, unauthorized: () => unauthorized };
}

const openSse = (response: ServerResponse, text: string) => {
  response.writeHead(200, { "content-type": "text/event-stream" });
  response.write(text);
};

describe("the event stream", () => {
  it("sends the token and resumes after a drop from the last durable id", async () => {
    const server = await eventServer(({ response }, index) => {
      if (index === 0) {
        openSse(response, 'id: 4\nevent: message\ndata: {"n":1}\n\nevent: presence\ndata: {"n":2}\n\n');
        setTimeout(() => response.destroy(), 20);
      } else openSse(response, 'id: 5\nevent: message\ndata: {"n":3}\n\n');
    });
    const { received } = startStream(server.baseUrl);

    await vi.waitFor(() => expect(received).toHaveLength(3));
    expect(received).toEqual(['message {"n":1}', 'presence {"n":2}', 'message {"n":3}']);
    expect(server.connections[0]?.request.headers.authorization).toBe("Bearer secret");
    expect(server.connections[0]?.request.headers["last-event-id"]).toBeUndefined();
    // The presence event had no id, so it does not move the resume point.
    expect(server.connections[1]?.request.headers["last-event-id"]).toBe("4");
  });

  it("keeps trying while the server fails", async () => {
    const server = await eventServer(({ response }, index) => {
      if (index < 2) response.writeHead(503).end();
      else openSse(response, 'event: message\ndata: {"n":1}\n\n');
    });
    const { received } = startStream(server.baseUrl);
    await vi.waitFor(() => expect(received).toEqual(['message {"n":1}']));
  });

  it("reopens a stream that has gone silent", async () => {
    const server = await eventServer(({ response }, index) => {
      openSse(response, index === 0 ? "id: 1\nevent: message\ndata: {}\n\n" : "");
    });
    startStream(server.baseUrl, { silenceTimeoutMs: 100 });
    await vi.waitFor(() => expect(server.connections.length).toBeGreaterThanOrEqual(2));
    expect(server.connections[1]?.request.headers["last-event-id"]).toBe("1");
  });

  it("stops for good when the token is refused", async () => {
    const server = await eventServer(({ response }) => response.writeHead(401).end());
    const { unauthorized } = startStream(server.baseUrl);
    await vi.waitFor(() => expect(unauthorized()).toBe(true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.connections).toHaveLength(1);
  });
});
