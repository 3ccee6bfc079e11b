import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for the chat server, just enough of PROTOCOL.md to drive the terminal client end to end:
 * login with lockout, a few commands, private session brokering, and /events with ids and replay.
 */

type StoredEvent = { id: number; event: string; data: string };
type User = {
  password: string;
  failures: number;
  online: boolean;
  address?: { host: string; port: number };
  events: StoredEvent[];
  streams: Set<ServerResponse>;
};
type RecordedRequest = { method: string; path: string; headers: IncomingMessage["headers"]; body: string };

const problem = (response: ServerResponse, status: number, code: string, detail: string, extras = {}) => {
  response.writeHead(status, { "content-type": "application/problem+json" });
  response.end(JSON.stringify({ type: "about:blank", title: code, status, code, detail, ...extras }));
};

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
};

export async function startFakeChatServer(credentials: Record<string, string>) {
  const users = new Map<string, User>(
    Object.entries(credentials).map(([name, password]) => [
      name,
      { password, failures: 0, online: false, events: [], streams: new Set() },
    ]),
  );
  const requests: RecordedRequest[] = [];
  /** The secret of each live private session, by the pair's names in order. */
  const privateSecrets = new Map<string, string>();
  const pairKey = (a: string, b: string) => [a, b].sort().join(" ");

  const userFor = (name: string): User => {
    const user = users.get(name);
    if (user === undefined) throw new Error(`no user ${name}`);
    return user;
  };

  const writeEvent = (stream: ServerResponse, event: string, data: string, id?: number) => {
    stream.write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
  };

  /** Sends an event to a user's open streams; a durable one is also stored for replay. */
  const send = (name: string, event: string, data: object, durable = true) => {
    const user = userFor(name);
    const text = JSON.stringify(data);
    const id = durable ? user.events.length + 1 : undefined;
    if (id !== undefined) user.events.push({ id, event, data: text });
    for (const stream of user.streams) writeEvent(stream, event, text, id);
  };

  const endSession = (name: string, reason: "logout" | "timeout") => {
    const user = userFor(name);
    user.online = false;
    for (const key of privateSecrets.keys()) if (key.split(" ").includes(name)) privateSecrets.delete(key);
    for (const stream of user.streams) {
      writeEvent(stream, "session_ended", JSON.stringify({ reason }));
      stream.end();
    }
    user.streams.clear();
  };

  const routes = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const url = new URL(request.url ?? "/", "http://fake");
    const route = `${request.method} ${url.pathname}`;
    if (route === "POST /login") return login(response, JSON.parse(body), request.socket.remoteAddress ?? "");
    const token = request.headers.authorization?.replace(/^Bearer /, "") ?? "";
    const self = token.replace(/^token-/, "");
    if (!users.get(self)?.online) return problem(response, 401, "unauthorized", "Your session has ended");
    const target = decodeURIComponent(url.pathname.split("/")[2] ?? "");

    if (route === "GET /events") return openStream(request, response, self);
    if (route === "POST /logout") {
      endSession(self, "logout");
      response.writeHead(204).end();
      return;
    }
    if (route === "GET /users/online") {
      const online = [...users].filter(([name, user]) => user.online && name !== self).map(([name]) => name);
      return json(response, 200, { users: online.sort() });
    }
    if (route === "POST /messages") {
      const { to, text } = JSON.parse(body) as { to: string; text: string };
      if (!users.has(to)) return problem(response, 404, "unknown_user", "Error. Invalid user");
      send(to, "message", { id: "1", from: self, to, text, sentAt: new Date().toISOString() });
      return json(response, 201, { from: self, to, text, delivery: "delivered" });
    }
    if (route === `PUT /blocks/${target}`) {
      return json(response, 200, { username: target, blocked: true, detail: `${target} is blocked` });
    }
    if (route === `POST /private/${target}`) {
      const peer = users.get(target);
      if (!peer?.online || peer.address === undefined) {
        return problem(response, 409, "user_offline", `Error. ${target} is offline`);
      }
      const key = pairKey(self, target);
      const secret = privateSecrets.get(key) ?? randomBytes(32).toString("base64url");
      privateSecrets.set(key, secret);
      send(target, "private_started", { from: self, address: userFor(self).address, secret });
      const detail = `Start private messaging with ${target}`;
      return json(response, 200, { username: target, address: peer.address, secret, detail });
    }
    if (route === `DELETE /private/${target}`) {
      privateSecrets.delete(pairKey(self, target));
      send(target, "private_stopped", { from: self, reason: "stopped" });
      response.writeHead(204).end();
      return;
    }
    problem(response, 404, "not_found", "Not found");
  };

  const login = (response: ServerResponse, body: Record<string, unknown>, remoteAddress: string) => {
    const name = String(body.username);
    const user = users.get(name);
    if (user === undefined) return problem(response, 401, "invalid_credentials", "Error. Invalid user");
    if (user.failures >= 3) {
      const detail = "Your account is blocked due to multiple login failures. Please try again later";
      return problem(response, 423, "account_locked", detail);
    }
    if (body.password !== user.password) {
      user.failures++;
      if (user.failures >= 3) {
        const detail = "Invalid Password. Your account has been blocked. Please try again later";
        return problem(response, 423, "account_locked", detail);
      }
      const attemptsLeft = 3 - user.failures;
      return problem(response, 401, "invalid_credentials", "Invalid Password. Please try again", { attemptsLeft });
    }
    if (user.online) return problem(response, 409, "already_logged_in", `Error. ${name} is already logged in`);
    user.failures = 0;
    user.online = true;
    const host = typeof body.p2pHost === "string" ? body.p2pHost : remoteAddress;
    user.address = { host, port: Number(body.p2pPort) };
    json(response, 200, {
      token: `token-${name}`,
      tokenType: "Bearer",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      username: name,
      detail: "Welcome to the greatest messaging application ever!",
    });
  };

  const openStream = (request: IncomingMessage, response: ServerResponse, name: string) => {
    const user = userFor(name);
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.write("retry: 50\n\n");
    const after = Number(request.headers["last-event-id"] ?? 0);
    for (const stored of user.events) if (stored.id > after) writeEvent(response, stored.event, stored.data, stored.id);
    user.streams.add(response);
    response.on("close", () => user.streams.delete(response));
  };

  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      requests.push({ method: request.method ?? "", path: request.url ?? "", headers: request.headers, body });
      routes(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo; // listening on TCP, so never a pipe name

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    send,
    endSession,
    /** Cuts a user's event streams as a network failure would. */
    dropStreams(name: string) {
      for (const stream of userFor(name).streams) stream.destroy();
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeChatServer = Awaited<ReturnType<typeof startFakeChatServer>>;
