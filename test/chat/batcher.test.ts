import { describe, expect, it, vi } from "vitest";
import { createBatcher, nextEventLoopTurn, type BatchOutcome, type BatcherOptions } from "../../src/lib/batcher.js";

/** What a caller's promise came to so far, watched from the start so no rejection goes unhandled. */
type Watched<Output> = { state: "pending" } | { state: "resolved"; value: Output } | { state: "rejected"; error: unknown };

function watch<Output>(promise: Promise<Output>): { readonly now: Watched<Output> } {
  const watched: { now: Watched<Output> } = { now: { state: "pending" } };
  promise.then(
    (value) => (watched.now = { state: "resolved", value }),
    (error: unknown) => (watched.now = { state: "rejected", error }),
  );
  return watched;
}

/** Lets every pending microtask and promise chain run (no timers involved). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs only the microtasks already queued and a few after them: no timer and no I/O turn passes. */
async function microtasksOnly() {
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
}

/**
 * A `run` that records each batch it is handed and holds it until the test calls `finishNext()`;
 * `answer` then decides the batch's outcomes (or throws, failing the batch as a whole).
 */
function heldRun<Input, Output>(answer: (inputs: Input[]) => BatchOutcome<Output>[]) {
  const batches: Input[][] = [];
  const held: (() => void)[] = [];
  const run = (inputs: Input[]) => {
    batches.push([...inputs]);
    return new Promise<BatchOutcome<Output>[]>((resolve, reject) => {
      held.push(() => {
        try {
          resolve(answer(inputs));
        } catch (error) {
          reject(error);
        }
      });
    });
  };
  return {
    run,
    batches,
    /** Lets the oldest held batch finish, then lets the batcher start its next one. */
    async finishNext() {
      const finish = held.shift();
      if (!finish) throw new Error(`no batch is running; batches so far: ${JSON.stringify(batches)}`);
      finish();
      await nextTurn();
    },
  };
}

/** A `run` that answers at once (throwing when `answer` throws), recording each batch. */
function immediateRun<Input, Output>(answer: (inputs: Input[]) => BatchOutcome<Output>[]) {
  const batches: Input[][] = [];
  const run = async (inputs: Input[]) => {
    batches.push([...inputs]);
    return answer(inputs);
  };
  return { run, batches };
}

const doubled = (inputs: number[]): BatchOutcome<number>[] => inputs.map((input) => ({ value: input * 2 }));

/** Starts one held batch with `first`, then queues `rest` behind it, so they share the next batch(es). */
function queueBehindRunningBatch<Output>(call: (input: number) => Promise<Output>, first: number, rest: number[]) {
  const running = watch(call(first));
  const queued = rest.map((input) => watch(call(input)));
  return { running, queued };
}

describe("createBatcher", () => {
  describe("grouping", () => {
    it("runs a call to an idle batcher at once, alone, without waiting for a timer", async () => {
      const held = heldRun(doubled);
      const call = createBatcher(held.run, { maxBatch: 10 });

      const result = watch(call(21));
      await microtasksOnly();
      expect(held.batches).toEqual([[21]]);

      await held.finishNext();
      expect(result.now).toEqual({ state: "resolved", value: 42 });
    });

    it("runs calls made one after another, each finished before the next, as batches of one", async () => {
      const { run, batches } = immediateRun(doubled);
      const call = createBatcher(run, { maxBatch: 10 });
      expect(await call(1)).toBe(2);
      expect(await call(2)).toBe(4);
      expect(await call(3)).toBe(6);
      expect(batches).toEqual([[1], [2], [3]]);
    });

    it("holds calls made while a batch runs and sends them together in the next batch", async () => {
      const held = heldRun(doubled);
      const call = createBatcher(held.run, { maxBatch: 10 });

      const { running, queued } = queueBehindRunningBatch(call, 1, [2, 3, 4]);
      await nextTurn();
      expect(held.batches).toEqual([[1]]);
      expect(queued.map((caller) => caller.now.state)).toEqual(["pending", "pending", "pending"]);

      await held.finishNext();
      expect(running.now).toEqual({ state: "resolved", value: 2 });
      expect(held.batches).toEqual([[1], [2, 3, 4]]);
      expect(queued.map((caller) => caller.now.state)).toEqual(["pending", "pending", "pending"]);

      await held.finishNext();
      expect(queued.map((caller) => caller.now)).toEqual([4, 6, 8].map((value) => ({ state: "resolved", value })));
      expect(held.batches).toHaveLength(2);
    });

    it("hands run the inputs of a batch in call order and each caller the outcome at its own position", async () => {
      const held = heldRun((inputs: string[]) => inputs.map((input) => ({ value: `echo ${input}` })));
      const call = createBatcher(held.run, { maxBatch: 100 });
      const inputs = Array.from({ length: 25 }, (_, index) => `call ${index}`);

      const running = watch(call("first"));
      const queued = inputs.map((input) => watch(call(input)));
      await held.finishNext();
      await held.finishNext();

      expect(held.batches).toEqual([["first"], inputs]);
      expect(running.now).toEqual({ state: "resolved", value: "echo first" });
      expect(queued.map((caller) => caller.now)).toEqual(inputs.map((input) => ({ state: "resolved", value: `echo ${input}` })));
    });

    it("puts at most maxBatch inputs in one run, oldest first, and later calls queue behind them", async () => {
      const held = heldRun(doubled);
      const call = createBatcher(held.run, { maxBatch: 2 });

      const { queued } = queueBehindRunningBatch(call, 1, [2, 3, 4, 5, 6]);
      await held.finishNext();
      expect(held.batches).toEqual([[1], [2, 3]]);

      const late = watch(call(7));
      await held.finishNext();
      await held.finishNext();
      await held.finishNext();

      expect(held.batches).toEqual([[1], [2, 3], [4, 5], [6, 7]]);
      for (const batch of held.batches) expect(batch.length).toBeLessThanOrEqual(2);
      expect(queued.map((caller) => caller.now)).toEqual([4, 6, 8, 10, 12].map((value) => ({ state: "resolved", value })));
      expect(late.now).toEqual({ state: "resolved", value: 14 });
    });

    it("runs one batch at a time, never two at once", async () => {
      let inFlight = 0;
      let mostInFlight = 0;
      const call = createBatcher<number, number>(
        async (inputs) => {
          inFlight += 1;
          mostInFlight = Math.max(mostInFlight, inFlight);
          await nextTurn();
          inFlight -= 1;
          return doubled(inputs);
        },
        { maxBatch: 3 },
      );
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => call(index)));
      expect(results).toEqual(Array.from({ length: 20 }, (_, index) => index * 2));
      expect(mostInFlight).toBe(1);
    });
  });

  describe("with gather", () => {
    it("lets calls made before the gathering turn ends join the first batch, even when the work never yields", async () => {
      const { run, batches } = immediateRun(doubled);
      const call = createBatcher(run, { maxBatch: 10, maxConcurrent: 2, gather: nextEventLoopTurn });

      const first = call(1);
      await microtasksOnly();
      expect(batches).toEqual([]);
      // A call arriving from another event-loop task (as a request read from a socket would).
      const late = new Promise<number>((resolve) => setTimeout(() => resolve(call(3)), 0));
      const results = await Promise.all([first, call(2), late]);

      expect(results).toEqual([2, 4, 6]);
      expect(batches[0]).toEqual(expect.arrayContaining([1, 2]));
      expect(batches.flat().sort()).toEqual([1, 2, 3]);
      // The second slot gathered alongside the first and found nothing left: no empty batch ran.
      for (const batch of batches) expect(batch.length).toBeGreaterThan(0);
    });

    it("takes at most maxBatch calls per batch after gathering", async () => {
      const { run, batches } = immediateRun(doubled);
      const call = createBatcher(run, { maxBatch: 2, gather: nextEventLoopTurn });
      expect(await Promise.all([1, 2, 3, 4, 5].map(call))).toEqual([2, 4, 6, 8, 10]);
      expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    });
  });

  describe("outcomes", () => {
    it("rejects only the caller whose outcome is an error, and runs the batch once", async () => {
      const refused = new Error("refused: 3");
      const held = heldRun((inputs: number[]): BatchOutcome<number>[] =>
        inputs.map((input) => (input === 3 ? { error: refused } : { value: input * 2 })),
      );
      const call = createBatcher(held.run, { maxBatch: 10, retryAlone: () => true });

      const { queued } = queueBehindRunningBatch(call, 1, [2, 3, 4]);
      await held.finishNext();
      await held.finishNext();

      expect(held.batches).toEqual([[1], [2, 3, 4]]);
      expect(queued.map((caller) => caller.now)).toEqual([
        { state: "resolved", value: 4 },
        { state: "rejected", error: refused },
        { state: "resolved", value: 8 },
      ]);
    });

    it("rejects a caller whose outcome run left out, and still answers the others", async () => {
      const held = heldRun((inputs: number[]) => doubled(inputs).slice(0, inputs.length - 1));
      const call = createBatcher(held.run, { maxBatch: 10 });

      const { queued } = queueBehindRunningBatch(call, 1, [2, 3]);
      await held.finishNext();
      await held.finishNext();

      expect(queued[0]!.now).toEqual({ state: "resolved", value: 4 });
      expect(queued[1]!.now).toEqual({ state: "rejected", error: expect.any(Error) });
    });
  });

  describe("a batch that fails as a whole", () => {
    /** Fails any batch holding a 13, as one bad row fails a whole transaction. */
    const failingOnThirteen = (error: Error) => (inputs: number[]) => {
      if (inputs.includes(13)) throw error;
      return doubled(inputs);
    };

    it("reruns each call alone when retryAlone accepts the error, so only the bad call fails", async () => {
      const broken = new Error("constraint violated by 13");
      const { run, batches } = immediateRun(failingOnThirteen(broken));
      const retryAlone = vi.fn((error: unknown) => error === broken);
      const call = createBatcher(run, { maxBatch: 10, retryAlone });

      const first = call(1);
      const together = [12, 13, 14].map((input) => watch(call(input)));
      expect(await first).toBe(2);
      await vi.waitFor(() => expect(together.map((caller) => caller.now.state)).not.toContain("pending"));

      expect(batches).toEqual([[1], [12, 13, 14], [12], [13], [14]]);
      expect(together.map((caller) => caller.now)).toEqual([
        { state: "resolved", value: 24 },
        { state: "rejected", error: broken },
        { state: "resolved", value: 28 },
      ]);
      expect(retryAlone).toHaveBeenCalledWith(broken);
    });

    it("does not rerun a failed call that was already alone", async () => {
      const broken = new Error("constraint violated by 13");
      const { run, batches } = immediateRun(failingOnThirteen(broken));
      const call = createBatcher(run, { maxBatch: 10, retryAlone: () => true });

      await expect(call(13)).rejects.toBe(broken);
      expect(batches).toEqual([[13]]);
    });

    it.each<[string, BatcherOptions["retryAlone"]]>([
      ["no retryAlone is given", undefined],
      ["retryAlone turns the error down", () => false],
    ])("rejects every caller in the batch with the error, once, when %s", async (_case, retryAlone) => {
      const unavailable = new Error("database unavailable");
      const held = heldRun((inputs: number[]) => {
        if (inputs.length > 1) throw unavailable;
        return doubled(inputs);
      });
      const call = createBatcher(held.run, { maxBatch: 10, retryAlone });

      const { running, queued } = queueBehindRunningBatch(call, 1, [2, 3, 4]);
      await held.finishNext();
      await held.finishNext();

      expect(held.batches).toEqual([[1], [2, 3, 4]]);
      expect(running.now).toEqual({ state: "resolved", value: 2 });
      expect(queued.map((caller) => caller.now)).toEqual([2, 3, 4].map(() => ({ state: "rejected", error: unavailable })));
    });

    it("keeps serving calls after a batch failed", async () => {
      let failing = true;
      const { run, batches } = immediateRun((inputs: number[]) => {
        if (failing) throw new Error("down");
        return doubled(inputs);
      });
      const call = createBatcher(run, { maxBatch: 10 });

      await expect(call(1)).rejects.toThrow("down");
      failing = false;
      expect(await call(2)).toBe(4);
      expect(batches).toEqual([[1], [2]]);
    });
  });

  describe("with maxConcurrent", () => {
    it("runs that many batches at once and queues the rest for the first to finish", async () => {
      const held = heldRun<number, number>((inputs) => inputs.map((input) => ({ value: input })));
      const call = createBatcher(held.run, { maxBatch: 10, maxConcurrent: 2 });
      const results = [1, 2, 3, 4, 5].map((input) => watch(call(input)));
      await microtasksOnly();
      expect(held.batches).toEqual([[1], [2]]);

      await held.finishNext();
      expect(results[0]!.now).toEqual({ state: "resolved", value: 1 });
      expect(held.batches).toEqual([[1], [2], [3, 4, 5]]);
      await held.finishNext();
      await held.finishNext();
      expect(results.map((result) => result.now)).toEqual([1, 2, 3, 4, 5].map((value) => ({ state: "resolved", value })));
      expect(held.batches).toHaveLength(3);
    });
  });
});
