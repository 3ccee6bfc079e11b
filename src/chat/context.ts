import type { Database } from "../db/client.js";
import type { DeliveredCursor } from "./event-log.js";
import type { Hub } from "./hub.js";
import type { MessageSend, SentMessage } from "./messages.js";
import type { SessionCache } from "./sessions.js";
import type { ChatTelemetry } from "./telemetry.js";
import type { Tokens } from "./tokens.js";

/** What every domain function works with; built once at start-up (or per test). */
export type ChatContext = {
  db: Database;
  hub: Hub;
  cursor: DeliveredCursor;
  tokens: Tokens;
  /** Group-committed database work shared by concurrent requests (built by createChatContext). */
  batches: {
    sendMessage: (send: MessageSend) => Promise<SentMessage>;
  };
  /** Live sessions, checked against the database at most every tenth of the timeout, and their unwritten activity (see createSessionCache). */
  sessions: SessionCache;
  /** Reports sessions, logins, messages and streams to logs and metrics; absent when nobody watches. */
  telemetry?: ChatTelemetry;
  settings: {
    blockDurationSeconds: number;
    timeoutSeconds: number;
    streamBufferBytes: number;
    maxStreamsPerSession: number;
    pingIntervalSeconds: number;
    /** How long an Idempotency-Key is remembered. */
    idempotencyKeyTtlSeconds: number;
    /** Requests per minute (0 = off); enforced by the HTTP layer, per instance. */
    rateLimits: RateLimitSettings;
  };
};

export type RateLimitSettings = {
  perUser: number;
  perAddress: number;
  loginPerUsername: number;
  loginPerAddress: number;
};

export const MAX_TEXT_LENGTH = 4096;
