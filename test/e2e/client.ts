import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { RunningServer } from "../../src/server.js";
import { passwordOf } from "../support/chat.js";
import { EventReader } from "../support/sse.js";

/** Names for one test, unique in the file's server (its credentials file lists them all up front). */
export function names<const Name extends string>(...base: Name[]): Record<Name, string> {
  const suffix = randomBytes(3).toString("hex");
  return Object.fromEntries(base.map((name) => [name, `${name}_${suffix}`])) as Record<Name, string>;
}

export type Answer = { status: number; headers: Headers; body: any };

/** A terminal-client-like view of a real server over HTTP: real fetch, real SSE parser. */
export function httpClient(server: RunningServer & { url: string }) {
  const attached = new Map<string, number>();
  const attach = server.context.hub.attach.bind(server.context.hub);
  server.context.hub.attach = (subscriber) => {
    attached.set(subscriber.username, (attached.get(subscriber.username) ?? 0) + 1);
    return attach(subscriber);
  };

  const call = async (method: string, path: string, token?: string, json?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };

  return {
    call,
    tryLogin: (username: string, password = passwordOf(username)) => call("POST", "/login", undefined, { username, password }),
    async login(username: string): Promise<string> {
      const answer = await call("POST", "/login", undefined, { username, password: passwordOf(username) });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.detail).toBe("Welcome to the greatest messaging application ever!");
      return answer.body.token as string;
    },
    async logout(token: string) {
      expect((await call("POST", "/logout", token)).status).toBe(204);
    },
    /** Opens GET /events over HTTP and waits until the stream is attached, so it sees live-only events from now on. */
    async events(username: string, token: string): Promise<EventReader> {
      const before = attached.get(username) ?? 0;
      const response = await fetch(`${server.url}/events`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      const reader = new EventReader(response);
      const deadline = Date.now() + 10_000;
      while ((attached.get(username) ?? 0) <= before) {
        if (Date.now() > deadline) throw new Error(`the stream of ${username} never attached`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return reader;
    },
    async online(token: string, since?: number): Promise<string[]> {
      const answer = await call("GET", since === undefined ? "/users/online" : `/users/online?since=${since}`, token);
      expect(answer.status).toBe(200);
      return answer.body.users as string[];
    },
  };
}
