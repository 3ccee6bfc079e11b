import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  check,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** Accounts from the credentials file, with lockout state and the per-user event counter. */
export const users = pgTable("users", {
  username: text("username").primaryKey(),
  passwordHash: text("password_hash").notNull(),
  failedAttempts: integer("failed_attempts").notNull().default(0),
  lockedUntil: at("locked_until"),
  /** Highest event id handed out for this user; bumped under the row lock so ids commit in order. */
  lastEventId: bigint("last_event_id", { mode: "number" }).notNull().default(0),
  /** Highest event id the user certainly received (acknowledged by Last-Event-ID, or by a stream lasting to its session's end): where a stream without Last-Event-ID starts. */
  deliveredEventId: bigint("delivered_event_id", { mode: "number" }).notNull().default(0),
});

/** One row per login; a live session has no endedAt. */
export const sessions = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    username: text("username")
      .notNull()
      .references(() => users.username),
    startedAt: at("started_at").notNull().defaultNow(),
    lastActivityAt: at("last_activity_at").notNull().defaultNow(),
    endedAt: at("ended_at"),
    endReason: text("end_reason"),
    clientAddress: text("client_address"),
    p2pHost: text("p2p_host"),
    p2pPort: integer("p2p_port"),
  },
  (table) => [
    // At most one live session per user, whichever instance tries to create it.
    uniqueIndex("sessions_one_live_per_user")
      .on(table.username)
      .where(sql`${table.endedAt} is null`),
    index("sessions_ended_at").on(table.endedAt),
  ],
);

export const blocks = pgTable(
  "blocks",
  {
    blocker: text("blocker")
      .notNull()
      .references(() => users.username),
    blocked: text("blocked")
      .notNull()
      .references(() => users.username),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.blocker, table.blocked] }), index("blocks_blocked").on(table.blocked)],
);

/** Every direct message ever accepted: the history behind GET /messages. */
export const messages = pgTable(
  "messages",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    sender: text("sender")
      .notNull()
      .references(() => users.username),
    recipient: text("recipient")
      .notNull()
      .references(() => users.username),
    text: text("text").notNull(),
    sentAt: at("sent_at").notNull().defaultNow(),
  },
  (table) => [
    index("messages_sender_recipient").on(table.sender, table.recipient, table.id),
    index("messages_recipient_sender").on(table.recipient, table.sender, table.id),
  ],
);

export const broadcasts = pgTable("broadcasts", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  sender: text("sender")
    .notNull()
    .references(() => users.username),
  text: text("text").notNull(),
  sentAt: at("sent_at").notNull().defaultNow(),
  recipientCount: integer("recipient_count").notNull(),
});

/**
 * Each user's numbered log of durable events: offline delivery and stream resume read it. A message
 * or broadcast event refers to its row (the payload is built when read, see event-log.ts); other
 * events, and message events stored before the references existed, carry their payload in `data`.
 *
 * No foreign keys: one statement shape writes every event (appendEventSteps), and it writes what
 * they would check in the same statement: it upserts the user's row to number the event, and
 * inserts the message or broadcast the event refers to. Users, messages and broadcasts are never
 * deleted. The keys re-checked each event row at the end of that statement: about a third of what
 * a broadcast to 5,000 online users cost (BENCHMARKS.md, "The events table without foreign keys").
 */
export const events = pgTable(
  "events",
  {
    username: text("username").notNull(),
    id: bigint("id", { mode: "number" }).notNull(),
    type: text("type").notNull(),
    data: jsonb("data"),
    messageId: bigint("message_id", { mode: "number" }),
    broadcastId: bigint("broadcast_id", { mode: "number" }),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.username, table.id] }),
    check("events_one_payload", sql`num_nonnulls(${table.data}, ${table.messageId}, ${table.broadcastId}) = 1`),
    // The pruner looks for old rows; a block-range index is a few pages for a table appended in time order.
    index("events_created_at").using("brin", table.createdAt),
  ],
);

/** A private (peer-to-peer) chat the server brokered; live while endedAt is null. */
export const privateSessions = pgTable(
  "private_sessions",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    initiator: text("initiator")
      .notNull()
      .references(() => users.username),
    peer: text("peer")
      .notNull()
      .references(() => users.username),
    startedAt: at("started_at").notNull().defaultNow(),
    endedAt: at("ended_at"),
    /** What both peers prove to each other when they connect (base64url, 256 bits); cleared when the session ends. */
    secret: text("secret"),
  },
  (table) => [
    // At most one live session per pair, whoever started it: both sides then hold the same secret.
    uniqueIndex("private_sessions_one_live_pair")
      .on(sql`least(${table.initiator}, ${table.peer})`, sql`greatest(${table.initiator}, ${table.peer})`)
      .where(sql`${table.endedAt} is null`),
    check("private_sessions_secret_while_live", sql`(${table.endedAt} is null) = (${table.secret} is not null)`),
  ],
);

/**
 * A send made with an Idempotency-Key, committed with the message or broadcast it made, so a retry
 * answers the same. `response` is json, not jsonb: keeping key order makes a replay byte-identical.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    username: text("username")
      .notNull()
      .references(() => users.username),
    key: text("key").notNull(),
    /** "POST /messages" or "POST /broadcasts". */
    route: text("route").notNull(),
    /** SHA-256 of the request body as sent the first time: a reuse with another body is refused. */
    requestHash: text("request_hash").notNull(),
    response: json("response").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  // created_at: the sweeper deletes expired keys by age.
  (table) => [primaryKey({ columns: [table.username, table.key] }), index("idempotency_keys_created_at").on(table.createdAt)],
);

/** Server-wide values that must survive restarts and be shared by instances (the JWT secret). */
export const settings = pgTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
