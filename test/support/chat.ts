import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNull, sql } from "drizzle-orm";
import { createApp, type AppOptions } from "../../src/app.js";
import { upsertUsers } from "../../src/chat/credentials.js";
import { loadConfig, type Config } from "../../src/config.js";
import { sessions } from "../../src/db/schema.js";
import type { Observability } from "../../src/observability/telemetry.js";
import { createChatContext, startServer, type RunningServer } from "../../src/server.js";
import { openTestDatabase } from "./database.js";
import { EventReader } from "./sse.js";

export const TEST_HASH_COST = 1024;

export type TestSettings = Partial<
  Pick<
    Config,
    | "blockDurationSeconds"
    | "timeoutSeconds"
    | "pingIntervalSeconds"
    | "idempotencyKeyTtlSeconds"
    | "eventRetentionSeconds"
    | "streamBufferBytes"
    | "maxStreamsPerSession"
    | "rateLimitPerUser"
    | "rateLimitPerAddress"
    | "loginRateLimitPerUsername"
    | "loginRateLimitPerAddress"
  >
>;

export function testConfig(settings: TestSettings = {}, extra: Partial<Config> = {}): Config {
  return {
    ...loadConfig([], {}),
    passwordHashCost: TEST_HASH_COST,
    port: 0,
    host: "127.0.0.1",
    logLevel: "silent",
    ...settings,
    ...extra,
  };
}

type RequestOptions = { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> };

/** Each test's own users: unique names, password `<name>-pw`. */
function uniqueNames<const Name extends string>(names: Name[]): Record<Name, string> {
  const suffix = randomBytes(3).toString("hex");
  return Object.fromEntries(names.map((name) => [name, `${name}_${suffix}`])) as Record<Name, string>;
}

export const passwordOf = (username: string) => `${username}-pw`;

/**
 * Mutation runs only (vitest.stryker.config.ts): every test gets its chat's app and domain built
 * anew, over the same database, before it starts (test/support/app-per-test.ts). Stryker counts
 * the code a test runs as covered by that test, and code run in `beforeAll` (route registration,
 * the signing secret, the session cache, the hub) as covered by no test; a mutant there would then
 * run against almost none of the tests that would notice it.
 */
const APP_PER_TEST = process.env.CHAT_TEST_APP_PER_TEST === "1";
const rebuilders = new Set<() => Promise<void>>();

/** Builds every open test chat's app anew (see APP_PER_TEST). */
export async function rebuildTestChats(): Promise<void> {
  for (const rebuild of rebuilders) await rebuild();
}

/**
 * The app over a fresh database, driven in-process with app.request(). Sweeper and timers run
 * for real; `close()` stops them and drops the database.
 */
export async function createTestChat(
  settings: TestSettings = {},
  appOptions: Omit<AppOptions, "onInternalError"> & { observability?: Observability } = {},
) {
  const database = await openTestDatabase();
  const build = async () => {
    const chat = await createChatContext(database, testConfig(settings), appOptions.observability);
    const app = createApp(chat.context, { ...appOptions, onInternalError: (error) => console.error(error) });
    return { chat, app, context: chat.context };
  };
  let built = await build();
  const rebuild = async () => {
    await built.chat.stop();
    built = await build();
  };
  if (APP_PER_TEST) rebuilders.add(rebuild);

  const request = (method: string, path: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.json);
    }
    return built.app.request(path, { method, headers, body });
  };

  const helpers = {
    get app() {
      return built.app;
    },
    get context() {
      return built.context;
    },
    db: database.db,
    request,
    /** Creates users for this test; returns their real (unique) names. */
    async users<const Name extends string>(...names: Name[]): Promise<Record<Name, string>> {
      const created = uniqueNames(names);
      await upsertUsers(
        database.db,
        Object.values<string>(created).map((username) => ({ username, password: passwordOf(username) })),
        TEST_HASH_COST,
      );
      return created;
    },
    /** Logs in and returns the token; fails the test on anything but 200. */
    async login(username: string, extra: Record<string, unknown> = {}): Promise<string> {
      const response = await request("POST", "/login", { json: { username, password: passwordOf(username), ...extra } });
      if (response.status !== 200) throw new Error(`login ${username}: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { token: string }).token;
    },
    /** Opens GET /events and returns a reader over it. */
    async events(token: string, headers: Record<string, string> = {}, query = ""): Promise<EventReader> {
      const response = await request("GET", `/events${query}`, { token, headers });
      if (response.status !== 200) throw new Error(`events: ${response.status} ${await response.text()}`);
      return new EventReader(response);
    },
    /** Ends every live session (between tests, so "who is online" starts empty). */
    async endAllSessions() {
      await database.db
        .update(sessions)
        .set({ endedAt: sql`now()`, endReason: "logout" })
        .where(isNull(sessions.endedAt));
    },
    async close() {
      rebuilders.delete(rebuild);
      await built.chat.stop();
      await database.close();
    },
  };
  return helpers;
}

export type TestChat = Awaited<ReturnType<typeof createTestChat>>;

/** A real server on 127.0.0.1 and port 0, over a fresh database, with the given users in its credentials file. */
export async function startTestServer(
  usernames: string[],
  settings: TestSettings = {},
  options: { config?: Partial<Config>; observability?: Observability } = {},
): Promise<RunningServer & { credentialsFile: string }> {
  const directory = await mkdtemp(join(tmpdir(), "chat-e2e-"));
  const credentialsFile = join(directory, "credentials.txt");
  await writeFile(credentialsFile, usernames.map((username) => `${username} ${passwordOf(username)}`).join("\n") + "\n");
  const database = await openTestDatabase();
  const server = await startServer(testConfig(settings, { credentialsFile, ...options.config }), database, {
    observability: options.observability,
  });
  return { ...server, credentialsFile, url: `http://127.0.0.1:${server.port}` };
}
