import { describe, expect, it } from "vitest";
import { DEFAULT_SCENARIOS, PRESETS, runBench } from "../../bench/runner.js";

// The full benchmark is `npm run bench`; this tiny run keeps every scenario and its checks working.
// It uses PostgreSQL when DATABASE_URL is set, and the service's embedded PGlite otherwise.
// About 40 s on a quiet machine, nearly all of it starting six server processes; the generous
// timeout is for machines busy with other work, where each start can take half a minute.
describe("npm run bench at tiny size", () => {
  it("runs every scenario and every correctness check holds", { timeout: 300_000 }, async () => {
    const report = await runBench({
      sizes: PRESETS.tiny,
      scenarios: DEFAULT_SCENARIOS,
      databaseUrl: process.env.DATABASE_URL || undefined,
      label: "test",
      command: "vitest test/bench/bench.test.ts",
    });
    expect(report.scenarios.map((scenario) => scenario.id)).toEqual([
      "idle-streams",
      "direct-messages",
      "broadcast-fanout",
      "reconnect-storm",
      "baselines",
    ]);
    const failures = report.scenarios.flatMap((scenario) =>
      scenario.checks.filter((check) => !check.ok).map((check) => `${scenario.title}: ${check.name}: ${check.detail}`),
    );
    expect(failures).toEqual([]);
    for (const scenario of report.scenarios) expect(scenario.figures.length).toBeGreaterThan(0);
  });
});
