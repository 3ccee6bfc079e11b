import { randomBytes } from "node:crypto";
import { and, eq, isNull, or, sql } from "drizzle-orm";
import { queryRows, type Database, type Transaction } from "../db/client.js";
import { privateSessions, sessions } from "../db/schema.js";
import { AppError } from "./errors.js";
import { hasBlocked } from "./blocks.js";
import type { ChatContext } from "./context.js";
import { appendEvents } from "./event-log.js";
import { refuseSelf, requireUser } from "./users.js";

export type PrivateStopReason = "stopped" | "logout" | "timeout";

const between = (a: string, b: string) =>
  or(
    and(eq(privateSessions.initiator, a), eq(privateSessions.peer, b)),
    and(eq(privateSessions.initiator, b), eq(privateSessions.peer, a)),
  );

async function liveAddress(db: Database, username: string) {
  const [row] = await db
    .select({ host: sessions.p2pHost, port: sessions.p2pPort })
    .from(sessions)
    .where(and(eq(sessions.username, username), isNull(sessions.endedAt)));
  if (!row) return undefined;
  return { address: row.host && row.port ? { host: row.host, port: row.port } : null };
}

/** startprivate: returns the peer's address and tells the peer ours. A session that is already live is reused. */
export async function startPrivate(context: ChatContext, caller: string, target: string) {
  const { db, hub } = context;
  refuseSelf(caller, target, "Error. Cannot start private messaging with self");
  await requireUser(db, target);
  if (await hasBlocked(db, target, caller)) {
    throw new AppError("blocked", `Error. Cannot start private messaging as ${target} has blocked you`);
  }
  const peer = await liveAddress(db, target);
  if (!peer) throw new AppError("user_offline", `Error. ${target} is not online`);
  if (!peer.address) throw new AppError("no_peer_address", `Error. ${target} has no address for private messaging`);
  const own = await liveAddress(db, caller);
  const peerAddress = peer.address;
  const { secret, notice } = await db.transaction(async (tx) => {
    const secret = await liveSessionSecret(tx, caller, target);
    const appended = await appendEvents(hub.commitNotices, tx, [target], {
      type: "private_started",
      data: { from: caller, address: own?.address ?? null, secret },
    });
    return { secret, notice: appended.get(target) };
  });
  if (notice) hub.publish(target, notice);
  return { username: target, address: peerAddress, secret, detail: `Start private messaging with ${target}` };
}

/**
 * Opens the private session between the two, or finds the live one whoever started it, and returns
 * its secret: a live session keeps the one both sides already hold. One statement, so two callers
 * at once (on any instance) get one session and one secret.
 */
async function liveSessionSecret(tx: Transaction, caller: string, target: string): Promise<string> {
  const [session] = await queryRows<{ secret: string }>(
    tx,
    // The update changes nothing: it is there so that the live session's row is returned.
    sql`insert into ${privateSessions} (initiator, peer, secret)
        values (${caller}, ${target}, ${randomBytes(32).toString("base64url")})
        on conflict ((least(initiator, peer)), (greatest(initiator, peer))) where ended_at is null
        do update set secret = ${privateSessions}.secret
        returning secret`,
  );
  if (!session) throw new Error("the private session was neither inserted nor found");
  return session.secret;
}

/** stopprivate: ends the live private session between the two and tells the peer. */
export async function stopPrivate(context: ChatContext, caller: string, target: string) {
  refuseSelf(caller, target, "Error. Cannot stop private messaging with self");
  await requireUser(context.db, target);
  const ended = await endPrivateSessions(context, caller, "stopped", target);
  if (ended === 0) throw new AppError("private_not_enabled", `Error. Private messaging to ${target} not enabled`);
}

/** Ends `username`'s live private sessions (with `only`, just the one with that user) and tells each peer. */
export async function endPrivateSessions(
  context: ChatContext,
  username: string,
  reason: PrivateStopReason,
  only?: string,
): Promise<number> {
  const { db, hub } = context;
  const involves = only
    ? between(username, only)
    : or(eq(privateSessions.initiator, username), eq(privateSessions.peer, username));
  const notices = await db.transaction(async (tx) => {
    const ended = await tx
      .update(privateSessions)
      .set({ endedAt: sql`now()`, secret: null })
      .where(and(involves, isNull(privateSessions.endedAt)))
      .returning({ initiator: privateSessions.initiator, peer: privateSessions.peer });
    const peers = [...new Set(ended.map((row) => (row.initiator === username ? row.peer : row.initiator)))];
    return {
      count: ended.length,
      events: await appendEvents(hub.commitNotices, tx, peers, { type: "private_stopped", data: { from: username, reason } }),
    };
  });
  for (const [peer, event] of notices.events) hub.publish(peer, event);
  return notices.count;
}

/** My live private sessions, with each peer's current address and the session's secret (the caller holds it already). */
export async function listPrivate(db: Database, caller: string) {
  const rows = await db
    .select({
      initiator: privateSessions.initiator,
      peer: privateSessions.peer,
      startedAt: privateSessions.startedAt,
      // Never null while the session is live (a check constraint says so).
      secret: sql<string>`${privateSessions.secret}`,
    })
    .from(privateSessions)
    .where(and(or(eq(privateSessions.initiator, caller), eq(privateSessions.peer, caller)), isNull(privateSessions.endedAt)));
  return Promise.all(
    rows.map(async (row) => {
      const username = row.initiator === caller ? row.peer : row.initiator;
      const peer = await liveAddress(db, username);
      return {
        username,
        address: peer?.address ?? null,
        secret: row.secret,
        startedAt: row.startedAt.toISOString(),
        startedByMe: row.initiator === caller,
      };
    }),
  );
}
