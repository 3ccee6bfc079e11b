/** What one call in a batch came to: its value, or the error only that call gets. */
export type BatchOutcome<Output> = { value: Output } | { error: unknown };

export type BatcherOptions = {
  /** Calls per batch at most; more wait for the next one. */
  maxBatch: number;
  /**
   * Batches running at once (default 1). Two let one batch fill while the other commits, instead
   * of every caller waiting in lock-step behind a lone first call.
   */
  maxConcurrent?: number;
  /**
   * After a batch failed as a whole with this error, run its calls one by one, so one bad call
   * cannot fail the others. Not for errors every call would meet (the database is down).
   */
  retryAlone?: (error: unknown) => boolean;
};

/**
 * Group commit: calls made while a batch is running wait and go together in the next one, so many
 * concurrent callers share one round of database work. No timer: a call to an idle batcher runs at
 * once, alone; under load the batches grow by themselves. Each caller gets its own outcome.
 */
export function createBatcher<Input, Output>(
  run: (inputs: Input[]) => Promise<BatchOutcome<Output>[]>,
  options: BatcherOptions,
): (input: Input) => Promise<Output> {
  type Waiting = { input: Input; resolve: (value: Output) => void; reject: (error: unknown) => void };
  let queue: Waiting[] = [];
  let running = 0;
  const maxConcurrent = options.maxConcurrent ?? 1;

  const settle = (waiting: Waiting, outcome: BatchOutcome<Output> | undefined) => {
    if (!outcome) waiting.reject(new Error("batch returned fewer outcomes than calls"));
    else if ("error" in outcome) waiting.reject(outcome.error);
    else waiting.resolve(outcome.value);
  };

  const runBatch = async (batch: Waiting[]) => {
    try {
      const outcomes = await run(batch.map((waiting) => waiting.input));
      batch.forEach((waiting, index) => settle(waiting, outcomes[index]));
    } catch (error) {
      if (batch.length > 1 && options.retryAlone?.(error)) {
        for (const waiting of batch) await runBatch([waiting]);
      } else {
        for (const waiting of batch) waiting.reject(error);
      }
    }
  };

  const drain = () => {
    while (queue.length > 0 && running < maxConcurrent) {
      const batch = queue.slice(0, options.maxBatch);
      queue = queue.slice(options.maxBatch);
      running++;
      void runBatch(batch).finally(() => {
        running--;
        drain();
      });
    }
  };

  return (input) =>
    new Promise<Output>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      drain();
    });
}
