import { createHash } from "node:crypto";
import type { ChatTelemetry, StreamInfo } from "../chat/telemetry.js";
import { createLogger, type Logger, type LoggerOptions } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";

/** The logger and metrics of one running service, and the domain's view of them. */
export type Observability = { logger: Logger; metrics: Metrics; telemetry: ChatTelemetry };

export function createObservability(options: LoggerOptions & { processMetrics?: boolean }): Observability {
  const logger = createLogger(options);
  const metrics = createMetrics(options);
  return { logger, metrics, telemetry: createTelemetry(logger, metrics) };
}

/** A session as logs name it: a short hash, since the raw id together with the data folder is a session. */
export const sessionTag = (sessionId: string) => createHash("sha256").update(sessionId).digest("hex").slice(0, 12);

/** Turns what the domain reports into log lines (one per session start/end, stream open/close) and metrics. */
function createTelemetry(logger: Logger, metrics: Metrics): ChatTelemetry {
  const openedAt = new WeakMap<StreamInfo, number>();
  const streamFields = (stream: StreamInfo) => ({
    reqId: stream.requestId,
    user: stream.username,
    session: sessionTag(stream.sessionId),
    ...(stream.lastEventId === undefined ? {} : { lastEventId: stream.lastEventId }),
  });
  return {
    sessionStarted(session) {
      logger.info(
        { event: "session_started", user: session.username, session: sessionTag(session.sessionId) },
        `session started: ${session.username}`,
      );
    },
    sessionEnded(session, reason) {
      logger.info(
        { event: "session_ended", user: session.username, session: sessionTag(session.sessionId), reason },
        `session ended (${reason}): ${session.username}`,
      );
    },
    loginFailed(username, reason) {
      metrics.loginFailures.inc({ reason });
      logger.info({ event: "login_failed", user: username, reason }, `login refused (${reason}): ${username}`);
    },
    accountLocked(username, seconds) {
      metrics.accountLockouts.inc();
      logger.warn({ event: "account_locked", user: username, seconds }, `account locked for ${seconds} s: ${username}`);
    },
    messageAccepted() {
      metrics.messagesAccepted.inc();
    },
    messageBatchStored(sends) {
      metrics.messageBatchSize.observe(sends);
    },
    broadcastAccepted() {
      metrics.broadcastsAccepted.inc();
    },
    streamOpened(stream) {
      openedAt.set(stream, Date.now());
      metrics.eventStreamsOpen.inc();
      logger.info({ event: "stream_opened", ...streamFields(stream) }, `event stream opened: ${stream.username}`);
    },
    streamClosed(stream, reason) {
      metrics.eventStreamsOpen.dec();
      if (reason === "slow_reader") metrics.streamsCutOff.inc();
      const opened = openedAt.get(stream);
      const durationMs = opened === undefined ? undefined : Date.now() - opened;
      const level = reason === "slow_reader" || reason === "error" ? "warn" : "info";
      logger[level](
        { event: "stream_closed", ...streamFields(stream), reason, durationMs },
        `event stream closed (${reason}): ${stream.username}`,
      );
    },
    eventsDelivered(type, count) {
      metrics.eventsDelivered.inc({ type }, count);
    },
    deliveryLag(type, seconds) {
      metrics.deliveryLag.observe({ type }, seconds);
    },
    busPublished(kind, count) {
      metrics.busPublished.inc({ kind }, count);
    },
    busReceived(kind, count) {
      metrics.busReceived.inc({ kind }, count);
    },
    eventLogRead() {
      metrics.eventLogReads.inc();
    },
  };
}
