import { CredentialsError } from "./chat/credentials.js";
import { ConfigError, loadConfig } from "./config.js";
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
    if (error instanceof CredentialsError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  console.log(`chat service listening on ${server.url} (database: ${server.database.description}; docs: ${server.url}/docs)`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received, shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (error) => {
        console.error("shutdown failed:", error);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error) => {
  console.error("start-up failed:", error);
  process.exit(1);
});
