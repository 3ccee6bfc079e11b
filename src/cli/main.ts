import { createClient } from "./client.js";
import { serverUrlFromArgs } from "./server-url.js";

const USAGE = `usage: npm run client -- [host] [port]
  host   the chat server's address (default 127.0.0.1)
  port   its port (default 4000)`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return;
  }
  let baseUrl: string;
  try {
    baseUrl = serverUrlFromArgs(args);
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(2);
  }
  const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const exitCode = await createClient({ input: process.stdin, output: process.stdout, baseUrl, terminal }).run();
  process.exit(exitCode); // an idle keep-alive socket must not hold the process open
}

await main().catch((error: unknown) => {
  console.error(`Error. ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
