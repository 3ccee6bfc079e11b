import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Database } from "../db/client.js";
import { queryRows, sqlState, textArray } from "../db/client.js";
import { sessions, users } from "../db/schema.js";
import { createBatcher } from "../lib/batcher.js";
import { AppError } from "../lib/problem.js";
import type { ChatContext } from "./context.js";
import type { SessionEndReason } from "./events.js";
import { DISABLED_HASH, verifyPassword } from "./passwords.js";
import { announcePresence } from "./presence.js";
import { endPrivateSessions } from "./private.js";
import type { LoginFailureReason } from "./telemetry.js";

export const MAX_FAILED_ATTEMPTS = 3;

export const LOGIN_TEXT = {
  welcome: "Welcome to the greatest messaging application ever!",
  wrongPassword: "Invalid Password. Please try again",
  nowLocked: "Invalid Password. Your account has been blocked. Please try again later",
  locked: "Your account is blocked due to multiple login failures. Please try again later",
  unknownUser: "Invalid Username. Please try again",
  alreadyLoggedIn: "This user is already logged in",
} as const;

export type LoginRequest = {
  username: string;
  password: string;
  clientAddress?: string;
  p2pHost?: string;
  p2pPort?: number;
};

const secondsUntil = (when: Date) => Math.max(1, Math.ceil((when.getTime() - Date.now()) / 1000));

const locked = (detail: string, until: Date) => new AppError("account_locked", detail, { retryAfter: secondsUntil(until) });

/** Login with the original's lockout: 3 consecutive wrong passwords lock the username, from any address. */
export async function login(context: ChatContext, request: LoginRequest) {
  const { db, tokens, hub } = context;
  const failed = (reason: LoginFailureReason) => context.telemetry?.loginFailed(request.username, reason);
  const [user] = await db.select().from(users).where(eq(users.username, request.username));
  if (!user || user.passwordHash === DISABLED_HASH) {
    failed("unknown_user");
    throw new AppError("invalid_credentials", LOGIN_TEXT.unknownUser);
  }
  if (user.lockedUntil && user.lockedUntil > new Date()) {
    failed("locked");
    throw locked(LOGIN_TEXT.locked, user.lockedUntil);
  }

  if (!(await verifyPassword(request.password, user.passwordHash))) {
    await recordFailure(context, request.username);
  }
  // Reset the count only if no lock began meanwhile (a concurrent third failure wins).
  const [cleared] = await db
    .update(users)
    .set({ failedAttempts: 0 })
    .where(and(eq(users.username, request.username), or(isNull(users.lockedUntil), lt(users.lockedUntil, sql`now()`))))
    .returning({ username: users.username });
  if (!cleared) {
    failed("locked");
    throw locked(LOGIN_TEXT.locked, new Date(Date.now() + context.settings.blockDurationSeconds * 1000));
  }

  const p2pHost = request.p2pPort === undefined ? null : (request.p2pHost ?? request.clientAddress ?? null);
  let session;
  try {
    [session] = await db
      .insert(sessions)
      .values({
        username: request.username,
        clientAddress: request.clientAddress ?? null,
        p2pHost,
        p2pPort: request.p2pPort ?? null,
      })
      .returning({ id: sessions.id, startedAt: sessions.startedAt });
  } catch (error) {
    if (sqlState(error) === "23505") throw new AppError("already_logged_in", LOGIN_TEXT.alreadyLoggedIn);
    throw error;
  }
  if (!session) throw new Error("session insert returned nothing");
  const { token, expiresAt } = await tokens.issue({ sessionId: session.id, username: request.username });
  context.telemetry?.sessionStarted({ username: request.username, sessionId: session.id });
  await announcePresence(db, hub, request.username, "online", session.startedAt);
  return {
    token,
    tokenType: "Bearer" as const,
    expiresAt: expiresAt.toISOString(),
    username: request.username,
    detail: LOGIN_TEXT.welcome,
  };
}

/** Counts a wrong password atomically; the third in a row locks the username. Always throws. */
async function recordFailure(context: ChatContext, username: string): Promise<never> {
  const { db, settings } = context;
  const reachesLimit = sql`${users.failedAttempts} + 1 >= ${MAX_FAILED_ATTEMPTS}`;
  const [counted] = await db
    .update(users)
    .set({
      failedAttempts: sql`case when ${reachesLimit} then 0 else ${users.failedAttempts} + 1 end`,
      lockedUntil: sql`case when ${reachesLimit} then now() + make_interval(secs => ${settings.blockDurationSeconds}) else ${users.lockedUntil} end`,
    })
    .where(and(eq(users.username, username), or(isNull(users.lockedUntil), lt(users.lockedUntil, sql`now()`))))
    .returning({ failedAttempts: users.failedAttempts, lockedUntil: users.lockedUntil });
  if (!counted) {
    context.telemetry?.loginFailed(username, "locked");
    throw locked(LOGIN_TEXT.locked, new Date(Date.now() + settings.blockDurationSeconds * 1000));
  }
  context.telemetry?.loginFailed(username, "wrong_password");
  if (counted.lockedUntil && counted.lockedUntil > new Date()) {
    context.telemetry?.accountLocked(username, settings.blockDurationSeconds);
    throw locked(LOGIN_TEXT.nowLocked, counted.lockedUntil);
  }
  throw new AppError("invalid_credentials", LOGIN_TEXT.wrongPassword, {
    attemptsLeft: MAX_FAILED_ATTEMPTS - counted.failedAttempts,
  });
}

export type Caller = { username: string; sessionId: string };

/**
 * The caller behind a bearer token, if its session is live. `touch` records activity for the
 * inactivity sweeper (every authenticated request but the event stream does).
 */
export async function authenticate(context: ChatContext, token: string, touch: boolean): Promise<Caller | undefined> {
  const claims = await context.tokens.verify(token);
  if (!claims || !/^[0-9a-f-]{36}$/.test(claims.sessionId)) return undefined;
  const lookup = touch ? context.batches.touchSession : context.batches.findSession;
  return (await lookup(claims.sessionId)) === claims.username ? claims : undefined;
}

/**
 * Session checks for many requests at once (see lib/batcher.ts): each answers the owner of a live
 * session id, or undefined; `touchSession` also records the request as activity. A session already
 * marked active within the last tenth of the timeout (at most 1 s) is not written again: a busy
 * client costs one UPDATE a second, not one per request, and the timeout stays exact to that much.
 */
export function createSessionLookups(db: Database, timeoutSeconds: number) {
  const fresh = Math.min(1, timeoutSeconds / 10);
  const owners = (ids: string[], rows: { id: string; username: string }[]) => {
    const owner = new Map(rows.map((row) => [row.id, row.username]));
    return ids.map((id) => ({ value: owner.get(id) }));
  };
  const live = (ids: string[]) => and(sql`${sessions.id} = any(${textArray(ids)}::uuid[])`, isNull(sessions.endedAt));
  const columns = { id: sessions.id, username: sessions.username };
  return {
    touchSession: createBatcher<string, string | undefined>(
      async (ids) =>
        owners(
          ids,
          await queryRows<{ id: string; username: string }>(
            db,
            sql`with live as (
                  select id, username from ${sessions}
                  where id = any(${textArray(ids)}::uuid[]) and ended_at is null
                ), touched as (
                  update ${sessions} set last_activity_at = now()
                  where id = any(${textArray(ids)}::uuid[]) and ended_at is null
                    and last_activity_at < now() - make_interval(secs => ${fresh})
                )
                select id, username from live`,
          ),
        ),
      { maxBatch: 512, maxConcurrent: 2 },
    ),
    findSession: createBatcher<string, string | undefined>(
      async (ids) => owners(ids, await db.select(columns).from(sessions).where(live(ids))),
      { maxBatch: 512, maxConcurrent: 2 },
    ),
  };
}

export async function logout(context: ChatContext, caller: Caller): Promise<void> {
  const [ended] = await context.db
    .update(sessions)
    .set({ endedAt: sql`now()`, endReason: "logout" })
    .where(and(eq(sessions.id, caller.sessionId), isNull(sessions.endedAt)))
    .returning({ username: sessions.username, endedAt: sessions.endedAt });
  if (ended?.endedAt) await afterSessionEnded(context, caller.username, caller.sessionId, "logout", ended.endedAt);
}

/**
 * Ends every session idle for the timeout. The UPDATE claims each session once, so several
 * instances sweeping the same database never end one twice.
 */
export async function sweepIdleSessions(context: ChatContext): Promise<number> {
  const ended = await context.db
    .update(sessions)
    .set({ endedAt: sql`now()`, endReason: "timeout" })
    .where(
      and(
        isNull(sessions.endedAt),
        lt(sessions.lastActivityAt, sql`now() - make_interval(secs => ${context.settings.timeoutSeconds})`),
      ),
    )
    .returning({ id: sessions.id, username: sessions.username, endedAt: sessions.endedAt });
  for (const session of ended) {
    await afterSessionEnded(context, session.username, session.id, "timeout", session.endedAt ?? new Date());
  }
  return ended.length;
}

/** What follows any session end: presence, the session's streams told and closed, private sessions ended. */
async function afterSessionEnded(context: ChatContext, username: string, sessionId: string, reason: SessionEndReason, at: Date) {
  context.telemetry?.sessionEnded({ username, sessionId }, reason);
  context.hub.endSession(username, sessionId, reason);
  // The ended streams moved the cursor: save it now, so a login right after starts after it (a failed
  // save is kept and retried by the periodic flush).
  await context.cursor.flush().catch(() => {});
  await announcePresence(context.db, context.hub, username, "offline", at);
  await endPrivateSessions(context, username, reason);
}

/** Runs the sweeper on one timer until stopped; a failed sweep is retried on the next tick. */
export function startSweeper(context: ChatContext, onError: (error: unknown) => void): () => void {
  const intervalMs = Math.min(1000, Math.max(100, (context.settings.timeoutSeconds * 1000) / 10));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepIdleSessions(context)
      .catch(onError)
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
