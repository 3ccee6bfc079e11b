import { asc, eq } from "drizzle-orm";
import { expect } from "vitest";
import { sessions } from "../../src/db/schema.js";
import type { Hub } from "../../src/chat/hub.js";
import type { TestChat } from "../support/chat.js";
import type { ReceivedEvent } from "../support/sse.js";
import { waitUntil } from "../support/wait.js";

/** Sends a direct message in-process and fails the test on anything but 201. */
export async function sendMessage(chat: TestChat, token: string, to: string, text: string) {
  const response = await chat.request("POST", "/messages", { token, json: { to, text } });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as { id: number; delivery: "delivered" | "stored"; text: string };
}

/** Why each of a user's sessions ended, oldest first (null while one is live), as the sessions table records it. */
export async function endReasons(chat: TestChat, username: string): Promise<(string | null)[]> {
  const rows = await chat.db
    .select({ reason: sessions.endReason })
    .from(sessions)
    .where(eq(sessions.username, username))
    .orderBy(asc(sessions.startedAt));
  return rows.map((row) => row.reason);
}

/** Takes the next `count` events of `type` from a stream. */
export async function nextEvents(
  stream: { next(type?: string, timeoutMs?: number): Promise<ReceivedEvent> },
  type: string,
  count: number,
) {
  const taken: ReceivedEvent[] = [];
  for (let index = 0; index < count; index++) taken.push(await stream.next(type, 10_000));
  return taken;
}

export const textsOf = (events: ReceivedEvent[]) => events.map((event) => (event.data as { text: string }).text);
export const idsOf = (events: ReceivedEvent[]) => events.map((event) => Number(event.id));
export const messagesIn = (events: ReceivedEvent[]) => events.filter((event) => event.event === "message");

/**
 * Issues an authenticated request every `everyMs` (without waiting for the previous one, so a
 * slow response does not stretch the gap) until stopped, GET /users/online unless told another;
 * the caller checks the statuses.
 */
export function keepActive(chat: TestChat, token: string, everyMs = 300, method = "GET", path = "/users/online", json?: unknown) {
  const statuses: number[] = [];
  const pending: Promise<void>[] = [];
  const tick = () =>
    pending.push(
      Promise.resolve(chat.request(method, path, { token, json })).then(async (response) => {
        statuses.push(response.status);
        await response.body?.cancel();
      }),
    );
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    statuses,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return statuses;
    },
  };
}

/**
 * Counts the streams attached to the hub per user, so a test can wait until a stream it opened
 * is live before causing a live-only event (those reach only streams already attached).
 * `currentHub` names the chat's hub as it is now: a mutation run builds each test's anew.
 */
export function watchAttachments(currentHub: () => Hub) {
  const attached = new Map<string, number>();
  const watched = new WeakSet<Hub>();
  const watch = () => {
    const hub = currentHub();
    if (watched.has(hub)) return;
    watched.add(hub);
    const attach = hub.attach.bind(hub);
    hub.attach = (subscriber) => {
      attached.set(subscriber.username, (attached.get(subscriber.username) ?? 0) + 1);
      return attach(subscriber);
    };
  };
  watch();
  return {
    /** Runs `open` and waits until it has attached one more stream for `username`. */
    async opened<T>(username: string, open: () => Promise<T>): Promise<T> {
      watch();
      const before = attached.get(username) ?? 0;
      const result = await open();
      await waitUntil(() => (attached.get(username) ?? 0) > before, `a stream of ${username} to attach`);
      return result;
    },
  };
}
