import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { createApp } from "./app.js";
import type { ChatContext } from "./chat/context.js";
import { syncUsers, readCredentialsFile } from "./chat/credentials.js";
import { createDeliveredCursor } from "./chat/event-log.js";
import { createLocalHub } from "./chat/hub.js";
import { startSweeper } from "./chat/sessions.js";
import { createTokens, loadSigningSecret } from "./chat/tokens.js";
import type { Config } from "./config.js";
import { openDatabase, type DatabaseHandle } from "./db/client.js";

export type RunningServer = {
  url: string;
  port: number;
  database: DatabaseHandle;
  context: ChatContext;
  close(): Promise<void>;
};

const CURSOR_FLUSH_MS = 1000;

/** Builds the domain over an open database: hub, tokens, timers. */
export async function createChatContext(database: DatabaseHandle, config: Config) {
  const hub = createLocalHub({ pingIntervalMs: config.pingIntervalSeconds * 1000 });
  const cursor = createDeliveredCursor(database.db);
  const tokens = createTokens(await loadSigningSecret(database.db, config.jwtSecret));
  const context: ChatContext = {
    db: database.db,
    hub,
    cursor,
    tokens,
    settings: {
      blockDurationSeconds: config.blockDurationSeconds,
      timeoutSeconds: config.timeoutSeconds,
      streamBufferBytes: config.streamBufferBytes,
      pingIntervalSeconds: config.pingIntervalSeconds,
    },
  };
  const logError = (error: unknown) => console.error("background task failed:", error);
  const stopSweeper = startSweeper(context, logError);
  const cursorTimer = setInterval(() => cursor.flush().catch(logError), CURSOR_FLUSH_MS);
  cursorTimer.unref();
  return {
    context,
    /** Stops timers, closes every stream and saves how far they got. */
    async stop() {
      stopSweeper();
      clearInterval(cursorTimer);
      hub.closeAll();
      hub.stop();
      await cursor.flush().catch(logError);
    },
  };
}

/** config -> database -> users -> app -> listening socket. Tests may hand in an already-open database. */
export async function startServer(config: Config, openedDatabase?: DatabaseHandle): Promise<RunningServer> {
  const credentials = await readCredentialsFile(config.credentialsFile);
  const database = openedDatabase ?? (await openDatabase(config));
  try {
    await syncUsers(database.db, credentials, config.passwordHashCost);
    const chat = await createChatContext(database, config);
    const app = createApp(chat.context, {
      onInternalError: (error, requestId) => console.error(`request ${requestId} failed:`, error),
    });
    const server: ServerType = await new Promise((resolve) => {
      const listening = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(listening));
    });
    const port = (server.address() as AddressInfo).port;
    const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
    return {
      url: `http://${shownHost}:${port}`,
      port,
      database,
      context: chat.context,
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
