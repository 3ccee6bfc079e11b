import type { DurableEventType, LiveEventType, SessionEndReason } from "./events.js";

export type LoginFailureReason = "unknown_user" | "wrong_password" | "locked";

/** Why an event stream closed: the client went away, its session ended, the server ended it, or it was cut off. */
export type StreamCloseReason = "client_closed" | "session_ended" | "server_closed" | "slow_reader" | "error";

/** What crosses between instances: a user's committed event, a presence change, a session end. */
export type BusNoticeKind = "event" | "presence" | "session";

export type StreamInfo = {
  username: string;
  sessionId: string;
  /** The request that opened the stream, so its log lines can be matched with the request line. */
  requestId?: string;
  lastEventId?: string;
};

/**
 * What the domain reports as it works, for logs and metrics; the implementation lives outside
 * the domain (src/lib/telemetry.ts) so nothing here depends on a logger or a metrics library.
 */
export type ChatTelemetry = {
  sessionStarted(session: { username: string; sessionId: string }): void;
  sessionEnded(session: { username: string; sessionId: string }, reason: SessionEndReason): void;
  loginFailed(username: string, reason: LoginFailureReason): void;
  /** The third wrong password in a row locked the username. */
  accountLocked(username: string, seconds: number): void;
  messageAccepted(): void;
  /** One group commit of direct messages stored `sends` messages (accepted or refused) in one statement. */
  messageBatchStored(sends: number): void;
  broadcastAccepted(recipients: number): void;
  streamOpened(stream: StreamInfo): void;
  streamClosed(stream: StreamInfo, reason: StreamCloseReason): void;
  /** Events written to open streams (`count` streams or events at once). */
  eventsDelivered(type: DurableEventType | LiveEventType, count: number): void;
  /** Seconds from a message or broadcast being sent to it being written to a stream that was open at the time. */
  deliveryLag(type: DurableEventType, seconds: number): void;
  /** Notices this instance sent to the others (NATS messages, or entries of PostgreSQL notices). */
  busPublished(kind: BusNoticeKind, count: number): void;
  /** Notices this instance received from the bus. */
  busReceived(kind: BusNoticeKind, count: number): void;
  /** An open stream read one page of the event log (a replay or a catch-up after a gap or a notice without data). */
  eventLogRead(): void;
};
