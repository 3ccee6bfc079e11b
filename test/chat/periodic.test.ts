import { afterEach, describe, expect, it, vi } from "vitest";
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
