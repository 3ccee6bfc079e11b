import { CredentialsError } from "./chat/credentials.js";
import { ConfigError, loadConfig } from "./config.js";
import { isDatabaseUnavailable } from "./db/client.js";
import { DataDirectoryError } from "./db/data-dir.js";
import { startServer } from "./server.js";

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    if (error instanceof CredentialsError || error instanceof DataDirectoryError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const { logger } = server;
  logger.info(
    `chat service listening on ${server.url} (database: ${server.database.description}; fan-out: ${server.context.hub.fanOut().description}; docs: ${server.url}/docs)`,
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${signal} received, shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  // The driver can reject a connection's internal promise when the server cuts it; the pool
  // reconnects by itself, so such a loss is logged and the process keeps serving.
  process.on("unhandledRejection", (reason) => {
    if (isDatabaseUnavailable(reason)) return logger.warn({ reason: String(reason) }, "database connection lost");
    logger.fatal({ err: reason }, "unhandled rejection");
    process.exit(1);
  });
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error) => {
  console.error("start-up failed:", error);
  process.exit(1);
});
