/**
 * The framework's ceiling: a trivial POST /messages that parses the JSON body and answers
 * 201 with a small JSON document, no database. `node:http` or `hono` (via @hono/node-server);
 * `fanout`: the bare fan-out the broadcast scenario is compared with (node:http).
 * Usage: node --import tsx bench/baselines/trivial-server.ts node|hono|fanout
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const kind = process.argv[2];
let nextId = 0;

function announce(address: AddressInfo | string | null): void {
  const port = typeof address === "object" && address ? address.port : 0;
  console.log(`${kind} baseline listening on http://127.0.0.1:${port}`);
}

/** Calls `handle` with the request's JSON body once it has all arrived. */
function onJsonBody<Body>(request: http.IncomingMessage, handle: (body: Body) => void): void {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => handle(JSON.parse(Buffer.concat(chunks).toString()) as Body));
}

function answer201(response: http.ServerResponse, document: object): void {
  const payload = JSON.stringify(document);
  response.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  response.end(payload);
}

/** Closes the server, its open connections (keep-alive, event streams) too, on SIGTERM. */
function closeOnSigterm(server: http.Server): void {
  process.once("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

/** A node:http server on a free loopback port, announced, and closed on SIGTERM. */
function listen(server: http.Server): void {
  server.listen(0, "127.0.0.1", () => announce(server.address()));
  closeOnSigterm(server);
}

if (kind === "node") {
  listen(
    http.createServer((request, response) =>
      onJsonBody<{ to: string; text: string }>(request, (body) =>
        answer201(response, { id: ++nextId, to: body.to, text: body.text }),
      ),
    ),
  );
} else if (kind === "hono") {
  const app = new Hono();
  app.post("/messages", async (c) => {
    const body = await c.req.json<{ to: string; text: string }>();
    return c.json({ id: ++nextId, to: body.to, text: body.text }, 201);
  });
  closeOnSigterm(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => announce(info)) as http.Server);
} else if (kind === "fanout") {
  // The fan-out's ceiling: event streams held open on node:http, and a POST /broadcasts that
  // writes one event to every one of them, then answers 201. No database, no checks.
  const streams = new Set<http.ServerResponse>();
  listen(
    http.createServer((request, response) => {
      if (request.method === "GET" && request.url === "/events") {
        response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
        response.write(": open\n\n");
        streams.add(response);
        response.on("close", () => streams.delete(response));
        return;
      }
      onJsonBody<{ text: string }>(request, (body) => {
        const id = ++nextId;
        const data = JSON.stringify({ id, from: "sender", text: body.text, sentAt: new Date().toISOString() });
        const event = `id: ${id}\nevent: broadcast\ndata: ${data}\n\n`;
        for (const stream of streams) stream.write(event);
        answer201(response, { id, recipients: streams.size });
      });
    }),
  );
} else {
  console.error("usage: trivial-server.ts node|hono|fanout");
  process.exit(2);
}
