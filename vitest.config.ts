import { defineConfig } from "vitest/config";

/** No database, no processes: the fast part, seconds in all (`npm run test:unit`). */
const unit = [
  "test/chat/{batcher,hub,passwords,periodic,tokens,users}.test.ts",
  "test/cli/**/*.test.ts",
  "test/startup/{config,credentials,flags-table,patches}.test.ts",
  "test/*/config.test.ts",
  "test/bench/{load-tools,message-ledger}.test.ts",
  "test/openapi/typescript-client.test.ts",
];
/** Real servers on sockets, child processes, browsers, several instances, faults. */
const endToEnd = [
  "test/e2e/**/*.test.ts",
  "test/cli-e2e/**/*.test.ts",
  "test/browser/**/*.test.ts",
  "test/scale/**/*.test.ts",
  "test/faults/**/*.test.ts",
  "test/startup/process.test.ts",
  "test/fuzz/campaign.test.ts",
];
/** A tiny run of `npm run bench`, checking the tool still measures and checks what it should. */
const bench = ["test/bench/bench.test.ts", "test/bench/instances.test.ts"];

// Everything else calls the app in-process over a real database (PGlite, or PostgreSQL with
// DATABASE_URL): the "integration" project, which also takes any new file no list names.
export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "unit", include: unit } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: [...unit, ...endToEnd, ...bench],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
      { extends: true, test: { name: "e2e", include: endToEnd, globalSetup: ["test/support/global-setup.ts"] } },
      { extends: true, test: { name: "bench", include: bench, globalSetup: ["test/support/global-setup.ts"] } },
    ],
  },
});
