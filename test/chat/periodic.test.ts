import { afterEach, describe, expect, it, vi } from "vitest";
import { pruneIntervalMs } from "../../src/chat/event-log.js";
import { keySweepIntervalMs } from "../../src/chat/idempotency.js";
import { sweepIntervalMs } from "../../src/chat/sessions.js";
import { runPeriodically } from "../../src/lib/periodic.js";

afterEach(() => vi.useRealTimers());

describe("runPeriodically (the key sweeper and the event pruner)", () => {
  it("runs the task each interval, skips a turn while a run is still going, and stops when told", async () => {
    vi.useFakeTimers();
    let started = 0;
    let finish: () => void = () => undefined;
    const stop = runPeriodically(
      1000,
      () => {
        started++;
        return new Promise<void>((resolve) => (finish = resolve));
      },
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(1);
    await vi.advanceTimersByTimeAsync(3000); // the first run has not finished: no second one
    expect(started).toBe(1);
    finish();
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(2);
    finish();
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(started).toBe(2);
  });

  it("hands a failed run's error over and keeps running", async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let runs = 0;
    const stop = runPeriodically(
      500,
      () => {
        runs++;
        return Promise.reject(new Error(`run ${runs} failed`));
      },
      (error) => errors.push(error),
    );
    await vi.advanceTimersByTimeAsync(1000);
    stop();
    expect(runs).toBe(2);
    expect(errors.map((error) => (error as Error).message)).toEqual(["run 1 failed", "run 2 failed"]);
  });
});

describe("the periods of the background work", () => {
  it("sweeps idle sessions every tenth of the timeout, between 100 ms and 1 s", () => {
    expect([0.5, 1, 2, 5, 10, 60, 3600].map(sweepIntervalMs)).toEqual([100, 100, 200, 500, 1000, 1000, 1000]);
  });

  it("sweeps expired idempotency keys every 24th of their TTL, between 1 s and an hour", () => {
    expect([1, 24, 48, 3600, 86_400, 86_400 * 24, 86_400 * 365].map(keySweepIntervalMs)).toEqual([
      1000, 1000, 2000, 150_000, 3_600_000, 3_600_000, 3_600_000,
    ]);
  });

  it("prunes the event log every tenth of the retention window, between 1 s and ten minutes", () => {
    expect([1, 10, 20, 600, 6000, 86_400].map(pruneIntervalMs)).toEqual([1000, 1000, 2000, 60_000, 600_000, 600_000]);
  });
});
