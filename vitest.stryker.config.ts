import { defineConfig } from "vitest/config";
import QuickFirstSequencer from "./test/support/quick-first-sequencer.js";

// Mutation testing (`npm run test:mutation`, see TESTING.md) runs on PGlite only, whatever the shell says.
delete process.env.DATABASE_URL;

/**
 * The tests Stryker runs against each mutant of src/chat, src/lib and src/routes: the unit tests of
 * those folders, the in-process integration tests (app.request over PGlite), and the one
 * end-to-end test that needs a real socket in this process (the connection cap). No child
 * processes, browsers, several instances or benchmarks (a mutant is active only in this process),
 * and not the property-based fuzz runs: each mutant runs the tests that cover it, so every second
 * here is paid hundreds of times.
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
      // Operations (health, metrics, logs, headers, docs) and start-up (configuration, credentials
      // file), in-process.
      "test/ops/**/*.test.ts",
      "test/startup/{config,credentials,flags-table}.test.ts",
      // The connection cap (open-file-limit.ts) on a real socket, in this process. The other
      // one-process socket tests repeat in-process tests with real waits: seconds per mutant.
      "test/e2e/limits.test.ts",
    ],
    globalSetup: ["test/support/global-setup.ts"],
    // One worker keeps its imported modules from run to run: without this, each mutant's run imports
    // the app again for every test file it touches, which cost more than the tests themselves.
    isolate: false,
    // ...and its test files take turns with PGlite instances instead of loading one each (see test/support/database.ts).
    env: { CHAT_TEST_REUSE_PGLITE: "1", CHAT_TEST_APP_PER_TEST: "1" },
    // ...and each test builds its app anew, so the code that builds it counts as covered by the test.
    setupFiles: ["test/support/app-per-test.ts"],
    // A mutant's run stops at its first failing test: the quick files go first (see the sequencer).
    sequence: { sequencer: QuickFirstSequencer },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
