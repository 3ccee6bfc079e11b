import { nowMs, waitUntil } from "./clock.js";
import { HttpPool, type HttpConnection, type Origin } from "./http-client.js";
import { openStream, type SseEvent, type SseStream } from "./sse-client.js";
import type { BenchUserCredentials } from "../server-process.js";

export type LoggedInUser = {
  /** Position in the scenario's user list. */
  index: number;
  username: string;
  token: string;
  /** `Bearer <token>`, built once. */
  authorization: string;
  /** nowMs() just before the login request went out. */
  loginSentAt: number;
};

/** Runs `work` over `items` with at most `concurrency` in flight; the first failure rejects. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

export async function login(http: HttpPool | HttpConnection, user: BenchUserCredentials, index: number): Promise<LoggedInUser> {
  const loginSentAt = nowMs();
  const response = await http.request("POST", "/login", { body: { username: user.username, password: user.password } });
  if (response.status !== 200) throw new Error(`login ${user.username}: ${response.status} ${response.body}`);
  const { token } = JSON.parse(response.body) as { token: string };
  return { index, username: user.username, token, authorization: `Bearer ${token}`, loginSentAt };
}

export async function loginAll(
  http: HttpPool,
  users: readonly BenchUserCredentials[],
  concurrency: number,
  firstIndex = 0,
): Promise<LoggedInUser[]> {
  const loggedIn = new Array<LoggedInUser>(users.length);
  await forEachConcurrently(users, concurrency, async (user, index) => {
    loggedIn[index] = await login(http, user, firstIndex + index);
  });
  return loggedIn;
}

async function logout(http: HttpPool | HttpConnection, user: LoggedInUser): Promise<void> {
  const response = await http.request("POST", "/logout", { headers: { Authorization: user.authorization } });
  if (response.status !== 204) throw new Error(`logout ${user.username}: ${response.status} ${response.body}`);
}

/**
 * Exercises login, streams, a message and logout with two users nobody else sees, so the
 * server has loaded and compiled its hot paths before anything is measured.
 */
export async function warmUp(origin: Origin, first: BenchUserCredentials, second: BenchUserCredentials): Promise<void> {
  const http = new HttpPool(origin, 2);
  try {
    const [a, b] = await Promise.all([login(http, first, -1), login(http, second, -2)]);
    const received: SseEvent[] = [];
    const streams: SseStream[] = await Promise.all(
      [a, b].map((user) => openStream({ origin, token: user.token, onEvent: (event) => received.push(event) })),
    );
    for (let i = 0; i < 20; i++) {
      const response = await http.request("POST", "/messages", {
        headers: { Authorization: a.authorization },
        body: { to: b.username, text: `warm-up ${i}` },
      });
      if (response.status !== 201) throw new Error(`warm-up message: ${response.status} ${response.body}`);
    }
    const arrived = await waitUntil(() => received.filter((event) => event.type === "message").length >= 20, 10_000);
    if (!arrived) throw new Error("warm-up messages were not delivered within 10 s");
    for (const stream of streams) stream.close();
    await logout(http, a);
    await logout(http, b);
  } finally {
    http.close();
  }
}

export type StreamHandlers = {
  onEvent?: (user: LoggedInUser, event: SseEvent) => void;
  /** A stream ended without the generator closing it: the server cut it off or failed. */
  onUnexpectedClose?: (user: LoggedInUser, stream: SseStream) => void;
  countPresenceOnly?: boolean;
  lastEventId?: (user: LoggedInUser) => number | undefined;
};

/** Opens one stream per user, `concurrency` at a time; resolves when all are open (first bytes read). */
export async function openStreams(
  origin: Origin,
  users: readonly LoggedInUser[],
  concurrency: number,
  handlers: StreamHandlers,
): Promise<SseStream[]> {
  const streams = new Array<SseStream>(users.length);
  await forEachConcurrently(users, concurrency, async (user, index) => {
    const lastEventId = handlers.lastEventId?.(user);
    streams[index] = await openStream({
      origin,
      token: user.token,
      lastEventId: lastEventId === undefined ? undefined : String(lastEventId),
      countPresenceOnly: handlers.countPresenceOnly ?? false,
      onEvent: handlers.onEvent && ((event) => handlers.onEvent!(user, event)),
      onClose: (stream, byClient) => {
        if (!byClient) handlers.onUnexpectedClose?.(user, stream);
      },
    });
  });
  return streams;
}
