import { defineConfig } from "vitest/config";

// Mutation testing (`npm run test:mutation`, see TESTING.md) runs on PGlite only, whatever the shell says.
delete process.env.DATABASE_URL;

/**
 * The tests Stryker runs against each mutant of src/chat, src/lib and src/routes: the unit tests of
 * those folders and the in-process integration tests (app.request over PGlite). No real sockets,
 * child processes, browsers or benchmarks, and not the property-based fuzz runs: each mutant
 * runs the tests that cover it, so every second here is paid hundreds of times.
 */
export default defineConfig({
  test: {
    name: "mutation",
    include: [
      "test/chat/**/*.test.ts",
      "test/routes/**/*.test.ts",
      "test/events/**/*.test.ts",
      "test/idempotency/**/*.test.ts",
      "test/rate-limits/**/*.test.ts",
      "test/openapi/**/*.test.ts",
    ],
    // It counts database lookups against the wall clock, which a loaded machine stretches.
    exclude: ["test/chat/session-cache.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // One worker keeps its imported modules from run to run: without this, each mutant's run imports
    // the app again for every test file it touches, which cost more than the tests themselves.
    isolate: false,
    // ...and its test files take turns with PGlite instances instead of loading one each (see test/support/database.ts).
    env: { CHAT_TEST_REUSE_PGLITE: "1" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
