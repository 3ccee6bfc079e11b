import { describe, expect, it } from "vitest";
import { PRESETS, runBench } from "../../bench/runner.js";

// The several-instances scenario at tiny size: two instances on one PostgreSQL database, told of
// new events once over NATS (a nats-server the bench starts on a fixed loopback port) and once
// over LISTEN/NOTIFY. Two instances are enough to tell the buses apart: every message crosses to
// the other instance, which over NATS receives only its own users' events, carried whole, and
// over LISTEN/NOTIFY every event of the cluster (its own too), then reads the log to deliver one.
const NATS_PORT = 14471;

describe.skipIf(!process.env.DATABASE_URL)("npm run bench -- --scenario instances at tiny size", () => {
  it("measures both buses, every check holds, and NATS does less per instance", { timeout: 300_000 }, async () => {
    const report = await runBench({
      sizes: { ...PRESETS.tiny, instanceCounts: [2], buses: ["nats", "postgres"] },
      scenarios: ["instances"],
      databaseUrl: process.env.DATABASE_URL,
      natsPort: NATS_PORT,
      label: "test",
      command: "vitest test/bench/instances.test.ts",
    });
    const [scenario] = report.scenarios;
    expect(scenario!.checks.filter((check) => !check.ok)).toEqual([]);
    const metric = (name: string) => scenario!.metrics[name];
    for (const bus of ["nats", "postgres"]) {
      expect(metric(`${bus}2Accepted`)).toBeGreaterThan(0);
      expect(metric(`${bus}2Delivered`)).toBe(metric(`${bus}2Accepted`));
      expect(metric(`${bus}2DeliveryP99`)).toBeGreaterThan(0);
    }
    // Over LISTEN/NOTIFY each instance hears every event of both: about two per message its
    // users sent; over NATS only the events of its own streams' users: about one.
    expect(metric("postgres2NoticesPerInstancePerMessage")).toBeGreaterThan(1.5);
    expect(metric("nats2NoticesPerInstancePerMessage")).toBeLessThan(1.25);
    expect(metric("nats2NoticesPerInstancePerMessage")).toBeGreaterThan(0.5);
    // The NATS notice carries the event; the PostgreSQL one only says there is something to read.
    expect(metric("postgres2LogReadsPerDelivered")).toBeGreaterThan(0.3);
    expect(metric("nats2LogReadsPerDelivered")).toBeLessThan(0.1);
    const table = scenario!.tables![0]!;
    expect(table.rows.map((row) => row.slice(0, 2))).toEqual([
      ["nats", "2"],
      ["postgres", "2"],
    ]);
  });
});
