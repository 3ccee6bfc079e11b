import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { createApp } from "./app.js";
import type { ChatContext } from "./chat/context.js";
import { syncUsers, readCredentialsFile } from "./chat/credentials.js";
import { createDeliveredCursor, startEventPruner } from "./chat/event-log.js";
import { createLocalHub } from "./chat/hub.js";
import { startKeySweeper } from "./chat/idempotency.js";
import { createNatsHub } from "./chat/nats-hub.js";
import { createPostgresHub } from "./chat/pg-hub.js";
import { createMessageBatcher } from "./chat/messages.js";
import { createSessionCache, createSessionLookups, startSweeper } from "./chat/sessions.js";
import { createTokens, loadSigningSecret } from "./chat/tokens.js";
import type { Config } from "./config.js";
import { openDatabase, type DatabaseHandle } from "./db/client.js";
import { createConnectionLimit, defaultMaxConnections } from "./http/connection-limit.js";
import { nodeServerFetch } from "./http/node-response.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createObservability, type Observability } from "./observability/telemetry.js";

export type RunningServer = {
  url: string;
  port: number;
  database: DatabaseHandle;
  context: ChatContext;
  logger: Logger;
  close(): Promise<void>;
};

const CURSOR_FLUSH_MS = 1000;

/**
 * Builds the domain over an open database: hub, tokens, timers. With NATS (--nats-url) the hub
 * reaches the other instances over it; otherwise on a PostgreSQL server over LISTEN/NOTIFY; the
 * embedded PGlite is one process, so one instance.
 */
export async function createChatContext(database: DatabaseHandle, config: Config, observability?: Observability) {
  const telemetry = observability?.telemetry;
  // Without observability (tests), background failures still reach standard output.
  const logger = observability?.logger ?? createLogger({ logLevel: "warn" });
  const logError = (error: unknown, what = "background task failed") => logger.error({ err: error }, what);
  const sessions = createSessionCache(createSessionLookups(database.db), config.timeoutSeconds);
  // The hub hears of every session end, this instance's and the others', and of notices it may have missed.
  const localHub = createLocalHub({
    pingIntervalMs: config.pingIntervalSeconds * 1000,
    telemetry,
    onSessionEnded: sessions.ended,
    onNoticesMissed: sessions.forgetAll,
  });
  const crossInstance =
    config.natsUrl.length > 0
      ? await createNatsHub({
          servers: config.natsUrl,
          local: localHub,
          telemetry,
          onError: logError,
          onStatus: (connected, message) => (connected ? logger.info(message) : logger.warn(message)),
        })
      : database.sql
        ? await createPostgresHub(database.sql, database.db, localHub, logError, telemetry)
        : undefined;
  const hub = crossInstance ?? localHub;
  const cursor = createDeliveredCursor(database.db);
  const tokens = await createTokens(await loadSigningSecret(database.db, config.jwtSecret));
  const batches = { sendMessage: createMessageBatcher({ db: database.db, hub, telemetry }) };
  const context: ChatContext = {
    db: database.db,
    hub,
    cursor,
    tokens,
    batches,
    sessions,
    telemetry,
    settings: {
      blockDurationSeconds: config.blockDurationSeconds,
      timeoutSeconds: config.timeoutSeconds,
      streamBufferBytes: config.streamBufferBytes,
      maxStreamsPerSession: config.maxStreamsPerSession,
      pingIntervalSeconds: config.pingIntervalSeconds,
      idempotencyKeyTtlSeconds: config.idempotencyKeyTtlSeconds,
      rateLimits: {
        perUser: config.rateLimitPerUser,
        perAddress: config.rateLimitPerAddress,
        loginPerUsername: config.loginRateLimitPerUsername,
        loginPerAddress: config.loginRateLimitPerAddress,
      },
    },
  };
  const stopSweeper = startSweeper(context, logError);
  const stopKeySweeper = startKeySweeper(database.db, config.idempotencyKeyTtlSeconds, logError);
  const stopPruner = startEventPruner(database.db, config.eventRetentionSeconds, (error) =>
    logError(error, "event pruning failed"),
  );
  const cursorTimer = setInterval(() => void cursor.flush().catch((error: unknown) => logError(error)), CURSOR_FLUSH_MS);
  cursorTimer.unref();
  return {
    context,
    /** Stops timers, closes every stream and saves how far they got and the sessions' last activity. */
    async stop() {
      stopSweeper();
      await sessions.writeActivity().catch((error: unknown) => logError(error));
      stopKeySweeper();
      stopPruner();
      clearInterval(cursorTimer);
      await crossInstance?.stop();
      hub.closeAll();
      localHub.stop();
      await cursor.flush().catch((error: unknown) => logError(error));
    },
  };
}

/**
 * config -> database -> users -> app -> listening socket. Tests may hand in an already-open
 * database, and their own logger and metrics.
 */
export async function startServer(
  config: Config,
  openedDatabase?: DatabaseHandle,
  options: { observability?: Observability } = {},
): Promise<RunningServer> {
  const observability = options.observability ?? createObservability({ logLevel: config.logLevel });
  const credentials = await readCredentialsFile(config.credentialsFile);
  const database = openedDatabase ?? (await openDatabase(config));
  try {
    await syncUsers(database.db, credentials, config.passwordHashCost);
    const chat = await createChatContext(database, config, observability);
    // A 500's error and stack go in its request line (see lib/request-log.ts).
    const connectionLimit = createConnectionLimit(config.maxConnections ?? defaultMaxConnections());
    const app = createApp(chat.context, { observability, corsOrigins: config.corsOrigins, connectionLimit });
    const server: ServerType = await new Promise((resolve) => {
      const listening = serve({ fetch: nodeServerFetch(app), port: config.port, hostname: config.host }, () =>
        resolve(listening),
      );
      connectionLimit.watch(listening as Server);
    });
    const port = (server.address() as AddressInfo).port;
    const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
    return {
      url: `http://${shownHost}:${port}`,
      port,
      database,
      context: chat.context,
      logger: observability.logger,
      async close() {
        // Stop accepting, end the streams so keep-alive sockets drain, then release the database.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await chat.stop();
        (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        await closed;
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
