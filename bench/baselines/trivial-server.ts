/**
 * The framework's ceiling: a trivial POST /messages that parses the JSON body and answers
 * 201 with a small JSON document, no database. `node:http` or `hono` (via @hono/node-server).
 * Usage: node --import tsx bench/baselines/trivial-server.ts node|hono
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

if (kind === "node") {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { to: string; text: string };
      const payload = JSON.stringify({ id: ++nextId, to: body.to, text: body.text });
      response.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
      response.end(payload);
    });
  });
  server.listen(0, "127.0.0.1", () => announce(server.address()));
  process.once("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
} else if (kind === "hono") {
  const app = new Hono();
  app.post("/messages", async (c) => {
    const body = await c.req.json<{ to: string; text: string }>();
    return c.json({ id: ++nextId, to: body.to, text: body.text }, 201);
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => announce(info));
  process.once("SIGTERM", () => {
    (server as http.Server).closeAllConnections();
    server.close(() => process.exit(0));
  });
} else {
  console.error("usage: trivial-server.ts node|hono");
  process.exit(2);
}
