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
  /**
   * Awaited before a batch takes its calls from the queue, so calls arriving meanwhile join it
   * (e.g. one event-loop turn, see nextEventLoopTurn). Without it a batch takes what is queued at once.
   */
  gather?: () => Promise<void>;
};

/**
 * One turn of the event loop: requests whose I/O completed in the same turn get to queue. Needed
 * where a batch's work never yields (PGlite runs each statement synchronously on this thread), as
 * nothing could otherwise queue behind a running batch.
 */
export const nextEventLoopTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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

  const startBatch = async () => {
    if (options.gather) await options.gather();
    const batch = queue.slice(0, options.maxBatch);
    queue = queue.slice(options.maxBatch);
    // A second batch that gathered alongside the first may find the queue already taken.
    if (batch.length > 0) await runBatch(batch);
  };

  const drain = () => {
    while (queue.length > 0 && running < maxConcurrent) {
      running++;
      void startBatch().finally(() => {
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
