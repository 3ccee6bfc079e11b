import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const EVENT_TYPES = ["message", "broadcast", "private_started", "private_stopped", "presence", "session_ended", "resync"];
const LOGIN_FAILURE_REASONS = ["unknown_user", "wrong_password", "locked"];
const BUS_NOTICE_KINDS = ["event", "presence", "session"];

/**
 * The service's Prometheus metrics, in a registry of their own (not prom-client's global one),
 * so several apps in one process (tests) never collide.
 */
export function createMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const metrics = {
    registry,
    requestDuration: new Histogram({
      name: "chat_http_request_duration_seconds",
      help: "HTTP requests by method, route pattern and status; for GET /events, the time until the stream opened",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    eventStreamsOpen: new Gauge({ name: "chat_event_streams_open", help: "Event streams open on this instance", registers }),
    sessionsOnline: new Gauge({
      name: "chat_sessions_online",
      help: "Live sessions in the database (every instance's); NaN when the database did not answer the scrape",
      registers,
    }),
    messagesAccepted: new Counter({ name: "chat_messages_accepted_total", help: "Direct messages accepted (201)", registers }),
    messageBatchSize: new Histogram({
      name: "chat_message_batch_size",
      help: "Direct messages per group commit (sends without an idempotency key that arrived while a batch was storing)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    broadcastsAccepted: new Counter({ name: "chat_broadcasts_accepted_total", help: "Broadcasts accepted (201)", registers }),
    eventsDelivered: new Counter({
      name: "chat_events_delivered_total",
      help: "Events written to open event streams, by event type (one per stream)",
      labelNames: ["type"] as const,
      registers,
    }),
    deliveryLag: new Histogram({
      name: "chat_delivery_lag_seconds",
      help: "From a message or broadcast being sent to it being written to a recipient's stream that was open at the time",
      labelNames: ["type"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    streamsCutOff: new Counter({
      name: "chat_event_streams_cut_off_total",
      help: "Event streams closed because the reader fell more than the stream buffer behind",
      registers,
    }),
    loginFailures: new Counter({
      name: "chat_login_failures_total",
      help: "Refused logins by reason: unknown_user, wrong_password, locked (tried during a lockout)",
      labelNames: ["reason"] as const,
      registers,
    }),
    accountLockouts: new Counter({
      name: "chat_account_lockouts_total",
      help: "Usernames locked after three wrong passwords in a row",
      registers,
    }),
    busPublished: new Counter({
      name: "chat_bus_published_total",
      help:
        "Notices this instance sent to the other instances, by kind: event (one per user's committed event), presence, " +
        "session (an ended session); NATS messages, or with PostgreSQL LISTEN/NOTIFY the (user, id) entries and notices",
      labelNames: ["kind"] as const,
      registers,
    }),
    busReceived: new Counter({
      name: "chat_bus_received_total",
      help:
        "Notices this instance received from the bus, by kind (as chat_bus_published_total); with PostgreSQL LISTEN/NOTIFY " +
        "every instance receives every notice, its own included",
      labelNames: ["kind"] as const,
      registers,
    }),
    eventLogReads: new Counter({
      name: "chat_event_log_reads_total",
      help: "Pages of the event log read by open event streams (replays, and catch-ups after a gap or a notice without the event)",
      registers,
    }),
    databaseConnectionsInUse: new Gauge({
      name: "chat_database_connections_in_use",
      help: "Connections of this instance's database pool busy with a query or transaction (0 on embedded PGlite); NaN when unknown",
      registers,
    }),
  };
  // Every series exists from the start, so a dashboard shows 0 rather than nothing.
  for (const type of EVENT_TYPES) metrics.eventsDelivered.inc({ type }, 0);
  for (const reason of LOGIN_FAILURE_REASONS) metrics.loginFailures.inc({ reason }, 0);
  for (const kind of BUS_NOTICE_KINDS) {
    metrics.busPublished.inc({ kind }, 0);
    metrics.busReceived.inc({ kind }, 0);
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Readers of the gauges that live in the database, asked at each scrape. */
export type DatabaseGauges = { sessionsOnline(): Promise<number>; connectionsInUse(): Promise<number> };

/** The Prometheus text exposition, with the gauges read from the database refreshed first. */
export async function renderMetrics(metrics: Metrics, gauges: DatabaseGauges): Promise<string> {
  const [sessions, connections] = await Promise.allSettled([gauges.sessionsOnline(), gauges.connectionsInUse()]);
  metrics.sessionsOnline.set(sessions.status === "fulfilled" ? sessions.value : Number.NaN);
  metrics.databaseConnectionsInUse.set(connections.status === "fulfilled" ? connections.value : Number.NaN);
  return metrics.registry.metrics();
}
