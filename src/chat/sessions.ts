import { and, eq, isNull, lt, sql, type SQL } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Database } from "../db/client.js";
import { queryRows, textArray } from "../db/client.js";
import { blocks, sessions, users } from "../db/schema.js";
import { createBatcher } from "../lib/batcher.js";
import { runPeriodically } from "../lib/periodic.js";
import { AppError } from "./errors.js";
import type { ChatContext } from "./context.js";
import type { SessionEndReason } from "./events.js";
import { DISABLED_HASH, verifyPassword } from "./passwords.js";
import { announcePresence, announcePresenceTo } from "./presence.js";
import { endPrivateSessions } from "./private.js";
import type { LoginFailureReason } from "./telemetry.js";

const MAX_FAILED_ATTEMPTS = 3;

const LOGIN_TEXT = {
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

/**
 * Seconds the username stays locked, by the database's clock (the one that set the lock), or null
 * when it is not locked. Every lock time is read and written by the database, so instances with
 * clocks apart agree.
 */
const lockSecondsLeft = (lockedUntil: SQL) =>
  sql<
    number | null
  >`case when ${lockedUntil} > now() then greatest(1, ceil(extract(epoch from ${lockedUntil} - now())))::int end`;

const locked = (detail: string, seconds: number) => new AppError("account_locked", detail, { retryAfter: seconds });

/** Login with the original's lockout: 3 consecutive wrong passwords lock the username, from any address. */
export async function login(context: ChatContext, request: LoginRequest) {
  const { db, tokens, hub } = context;
  const failed = (reason: LoginFailureReason) => context.telemetry?.loginFailed(request.username, reason);
  const [user] = await db
    .select({ passwordHash: users.passwordHash, lockSeconds: lockSecondsLeft(sql`${users.lockedUntil}`) })
    .from(users)
    .where(eq(users.username, request.username));
  if (!user || user.passwordHash === DISABLED_HASH) {
    failed("unknown_user");
    throw new AppError("invalid_credentials", LOGIN_TEXT.unknownUser);
  }
  // Stryker disable next-line ConditionalExpression,BlockStatement: without this early answer the password is checked and the statement below refuses the login the same way (account_locked, the same time left); it saves the scrypt work.
  if (user.lockSeconds !== null) {
    failed("locked");
    throw locked(LOGIN_TEXT.locked, user.lockSeconds);
  }

  if (!(await verifyPassword(request.password, user.passwordHash))) {
    await recordFailure(context, request.username);
  }
  const p2pHost = request.p2pPort === undefined ? null : (request.p2pHost ?? request.clientAddress ?? null);
  // One statement: reset the failure count unless a lock began meanwhile (a concurrent third
  // failure wins), open the session unless one is live, and read whom the user blocked (they
  // are not told of the login). The reset stands even when the session is refused.
  const [outcome] = await queryRows<{
    cleared: boolean;
    lock_seconds: number | null;
    id: string | null;
    started_at: Date | string | null;
    blocked: string[];
  }>(
    db,
    sql`with cleared as (
          update ${users} set failed_attempts = 0
          where username = ${request.username} and (locked_until is null or locked_until < now())
          returning username
        ), opened as (
          insert into ${sessions} (username, client_address, p2p_host, p2p_port)
          select username, ${request.clientAddress ?? null}, ${p2pHost}, ${request.p2pPort ?? null}::int from cleared
          on conflict (username) where ended_at is null do nothing
          returning id, started_at
        )
        select exists (select 1 from cleared) as cleared, opened.id, opened.started_at,
               (select ${lockSecondsLeft(sql`locked_until`)} from ${users} where username = ${request.username}) as lock_seconds,
               array(select blocked from ${blocks} where blocker = ${request.username}) as blocked
        from (select 1) as one left join opened on true`,
  );
  // Stryker disable next-line OptionalChaining: the statement always answers one row.
  if (!outcome?.cleared) {
    failed("locked");
    throw locked(LOGIN_TEXT.locked, outcome?.lock_seconds ?? context.settings.blockDurationSeconds);
  }
  // Stryker disable next-line ConditionalExpression,LogicalOperator: id and started_at come from one left-joined row, so they are null together.
  if (outcome.id === null || outcome.started_at === null) throw new AppError("already_logged_in", LOGIN_TEXT.alreadyLoggedIn);
  const session = { id: outcome.id, startedAt: new Date(outcome.started_at) };
  context.sessions.started(session.id, request.username);
  const { token, expiresAt } = await tokens.issue({ sessionId: session.id, username: request.username });
  context.telemetry?.sessionStarted({ username: request.username, sessionId: session.id });
  announcePresenceTo(hub, request.username, "online", session.startedAt, outcome.blocked);
  return {
    token,
    tokenType: "Bearer" as const,
    expiresAt: expiresAt.toISOString(),
    username: request.username,
    detail: LOGIN_TEXT.welcome,
  };
}

/**
 * Counts a wrong password atomically; the third in a row locks the username. Always throws. When
 * a lock is already on (a concurrent third failure won), nothing is counted and the lock's time
 * left is answered.
 */
async function recordFailure(context: ChatContext, username: string): Promise<never> {
  const { db, settings } = context;
  const [outcome] = await queryRows<{ counted: boolean; failed_attempts: number | null; lock_seconds: number | null }>(
    db,
    sql`with counted as (
          update ${users}
          set failed_attempts = case when failed_attempts + 1 >= ${MAX_FAILED_ATTEMPTS} then 0 else failed_attempts + 1 end,
              locked_until = case when failed_attempts + 1 >= ${MAX_FAILED_ATTEMPTS}
                                  then now() + make_interval(secs => ${settings.blockDurationSeconds}) else locked_until end
          where username = ${username} and (locked_until is null or locked_until < now())
          returning failed_attempts, locked_until
        )
        select counted.failed_attempts is not null as counted, counted.failed_attempts,
               ${lockSecondsLeft(sql`coalesce(counted.locked_until, u.locked_until)`)} as lock_seconds
        from ${users} u left join counted on true
        where u.username = ${username}`,
  );
  if (!outcome?.counted || outcome.failed_attempts === null) {
    context.telemetry?.loginFailed(username, "locked");
    throw locked(LOGIN_TEXT.locked, outcome?.lock_seconds ?? settings.blockDurationSeconds);
  }
  context.telemetry?.loginFailed(username, "wrong_password");
  if (outcome.lock_seconds !== null) {
    context.telemetry?.accountLocked(username, settings.blockDurationSeconds);
    throw locked(LOGIN_TEXT.nowLocked, outcome.lock_seconds);
  }
  throw new AppError("invalid_credentials", LOGIN_TEXT.wrongPassword, {
    attemptsLeft: MAX_FAILED_ATTEMPTS - outcome.failed_attempts,
  });
}

export type Caller = { username: string; sessionId: string };

/**
 * How long the database's word that a session is live is trusted from memory: a tenth of the
 * timeout, at most 1 s. (Activity is written on each sweep, every sweepIntervalMs.)
 */
const trustedForSeconds = (timeoutSeconds: number) => Math.min(1, timeoutSeconds / 10);

/**
 * The caller behind a bearer token, if its session is live. `touch` records activity for the
 * inactivity sweeper (every authenticated request but the event stream does).
 */
export async function authenticate(context: ChatContext, token: string, touch: boolean): Promise<Caller | undefined> {
  const claims = await context.tokens.verify(token);
  if (!claims || !/^[0-9a-f-]{36}$/.test(claims.sessionId)) return undefined;
  return (await context.sessions.owner(claims.sessionId, touch)) === claims.username ? claims : undefined;
}

/**
 * Which sessions are live, and when each was last active. A session the database said was live
 * within the last tenth of the timeout (at most 1 s) is answered from memory; an older answer is
 * asked again. A request's activity is kept here and written with every other session's in one
 * statement per sweep (writeActivity), so no request waits for a write, and that statement's
 * answer counts as a fresh check of each session it wrote. Every session end this instance hears
 * of (its own, or another instance's notice) is forgotten at once; a lookup or write that raced
 * with an end is not remembered. Once the hub may have missed notices, every check is forgotten.
 */
export function createSessionCache(lookups: SessionLookups, timeoutSeconds: number) {
  const freshMs = trustedForSeconds(timeoutSeconds) * 1000;
  const known = new LRUCache<string, { username: string; verifiedAt: number }>({ max: 100_000 });
  /** Activity not written yet: each session's latest request, by performance.now(). */
  let unwritten = new Map<string, number>();
  /** Moves on every end, so a lookup that was in flight meanwhile does not bring an ended session back. */
  let ends = 0;
  return {
    /** The owner of a live session, or undefined; `touch` counts the request as activity. */
    async owner(sessionId: string, touch: boolean): Promise<string | undefined> {
      const startedAt = performance.now();
      const entry = known.get(sessionId);
      let owner = entry && startedAt - entry.verifiedAt < freshMs ? entry.username : undefined;
      if (owner === undefined) {
        const endsBefore = ends;
        owner = await lookups.findSession(sessionId);
        if (owner === undefined) known.delete(sessionId);
        else if (ends === endsBefore) known.set(sessionId, { username: owner, verifiedAt: startedAt });
      }
      if (touch && owner !== undefined) unwritten.set(sessionId, startedAt);
      return owner;
    },
    /**
     * Writes the activity kept since the last call, each session's as of its latest request, in
     * one statement. The sessions it finds ended are forgotten. If it fails, the activity is kept
     * for the next call.
     */
    async writeActivity(): Promise<void> {
      if (unwritten.size === 0) return;
      const writing = unwritten;
      unwritten = new Map();
      const startedAt = performance.now();
      const endsBefore = ends;
      let live: Map<string, string>;
      try {
        live = await lookups.recordActivity([...writing].map(([id, at]) => ({ id, idleMs: startedAt - at })));
      } catch (error) {
        for (const [id, at] of writing) if (!((unwritten.get(id) ?? -Infinity) > at)) unwritten.set(id, at);
        throw error;
      }
      for (const id of writing.keys()) {
        const username = live.get(id);
        if (username === undefined) known.delete(id);
        else if (ends === endsBefore) known.set(id, { username, verifiedAt: startedAt });
      }
    },
    /** A session this instance just created (its activity was recorded as it was inserted). */
    started(sessionId: string, username: string) {
      known.set(sessionId, { username, verifiedAt: performance.now() });
    },
    ended(sessionId: string) {
      // Stryker disable next-line UpdateOperator: any change tells a raced lookup apart; counting down would too.
      ends++;
      known.delete(sessionId);
    },
    forgetAll() {
      // Stryker disable next-line UpdateOperator: as in ended().
      ends++;
      known.clear();
    },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;

/**
 * The session cache's database work. `findSession` answers the owner of a live session id, or
 * undefined, for many requests at once (see lib/batcher.ts). `recordActivity` moves each live
 * session's last activity to `idleMs` before now (never back) and answers those sessions' owners.
 */
export function createSessionLookups(db: Database) {
  const columns = { id: sessions.id, username: sessions.username };
  return {
    findSession: createBatcher<string, string | undefined>(
      async (ids) => {
        const rows = await db
          .select(columns)
          .from(sessions)
          .where(and(sql`${sessions.id} = any(${textArray(ids)}::uuid[])`, isNull(sessions.endedAt)));
        const found = new Map(rows.map((row) => [row.id, row.username]));
        return ids.map((id) => ({ value: found.get(id) }));
      },
      { maxBatch: 512, maxConcurrent: 2 },
    ),
    async recordActivity(activity: { id: string; idleMs: number }[]): Promise<Map<string, string>> {
      const rows = await queryRows<{ id: string; username: string }>(
        db,
        sql`update ${sessions} set last_activity_at = greatest(last_activity_at, now() - a.idle_ms * interval '1 millisecond')
            from unnest(${textArray(activity.map(({ id }) => id))}::uuid[],
                        ${textArray(activity.map(({ idleMs }) => String(Math.max(0, idleMs))))}::float8[]) as a(id, idle_ms)
            where ${sessions.id} = a.id and ${sessions.endedAt} is null
            returning ${sessions.id}, ${sessions.username}`,
      );
      return new Map(rows.map((row) => [row.id, row.username]));
    },
  };
}

type SessionLookups = ReturnType<typeof createSessionLookups>;

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
async function sweepIdleSessions(context: ChatContext): Promise<number> {
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

/** How often idle sessions are swept: every tenth of the timeout, between 100 ms and 1 s. */
export const sweepIntervalMs = (timeoutSeconds: number) => Math.min(1000, Math.max(100, (timeoutSeconds * 1000) / 10));

/**
 * One sweep: this instance's kept activity is written, then the sessions idle for the timeout are
 * ended. When the write fails nothing is swept, as it could end a session whose activity it holds.
 */
export async function sweepOnce(context: ChatContext): Promise<void> {
  await context.sessions.writeActivity();
  await sweepIdleSessions(context);
}

/** Sweeps every sweepIntervalMs until stopped; a failed sweep is retried on the next tick. */
export function startSweeper(context: ChatContext, onError: (error: unknown) => void): () => void {
  return runPeriodically(sweepIntervalMs(context.settings.timeoutSeconds), () => sweepOnce(context), onError);
}
