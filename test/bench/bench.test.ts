import { describe, expect, it } from "vitest";
import { latencySvg } from "../../bench/latency-plot.js";
import { DEFAULT_SCENARIOS, PRESETS, runBench } from "../../bench/runner.js";

// The full benchmark is `npm run bench`; this tiny run keeps every scenario and its checks working.
// It uses PostgreSQL when DATABASE_URL is set, and the service's embedded PGlite otherwise.
// About a minute on a quiet machine, most of it starting eight server processes; the generous
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
      "direct-mix",
      "direct-hot",
      "broadcast-fanout",
      "reconnect-storm",
      "baselines",
      "soak",
    ]);
    const failures = report.scenarios.flatMap((scenario) =>
      scenario.checks.filter((check) => !check.ok).map((check) => `${scenario.title}: ${check.name}: ${check.detail}`),
    );
    expect(failures).toEqual([]);
    for (const scenario of report.scenarios) expect(scenario.figures.length).toBeGreaterThan(0);

    // The many-users mix: saturation first, then each share of it, with the two targets judged.
    const scenario = (id: string) => report.scenarios.find((one) => one.id === id)!;
    const mix = scenario("direct-mix");
    expect(mix.metrics.saturationAcceptedPerSecond).toBeGreaterThan(0);
    for (const percent of PRESETS.tiny.loadPercents) {
      expect(mix.metrics[`load${percent}Offered`]).toBeCloseTo((mix.metrics.saturationAcceptedPerSecond! * percent) / 100);
      expect(mix.metrics[`load${percent}DeliveryP99`]).toBeGreaterThan(0);
    }
    expect(mix.targets.map((target) => target.name)).toEqual([
      expect.stringContaining("p99 ≤ 50 ms at 50 %"),
      expect.stringContaining("p99 ≤ 100 ms at 70 %"),
    ]);
    // The broadcast beside the bare fan-out, timed the same way, with the ratio judged.
    const broadcast = scenario("broadcast-fanout");
    expect(broadcast.metrics.bareUntilLastMedian).toBeGreaterThan(0);
    expect(broadcast.targets.map((target) => target.name)).toContainEqual(expect.stringContaining("1.5× the bare fan-out"));
    // The soak: one row per interval (a third of the tiny run each), every one with deliveries and an RSS reading.
    const soak = scenario("soak");
    expect(soak.tables?.[0]?.rows).toHaveLength(3);
    for (const row of soak.tables![0]!.rows) {
      expect(row[2]).toMatch(/ms|s$/);
      expect(row[5]).toMatch(/MiB$/);
      expect(row[7]).toMatch(/^\d+ µs$/);
      expect(row[9]).toMatch(/^\d+%$/);
    }
    // ...and the saturation again at its end, over the tables it filled.
    expect(soak.metrics.saturationBeforePerSecond).toBeGreaterThan(0);
    expect(soak.metrics.saturationAfterPerSecond).toBeGreaterThan(0);
    // The plot draws ours beside the baselines the run measured.
    const svg = latencySvg(report)!;
    expect(svg).toContain("ours: many users");
    expect(svg).toContain("ours: few hot senders");
    expect(svg).toContain("bare @hono/node-server");
  });
});
