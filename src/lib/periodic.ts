/**
 * Runs `task` every `intervalMs` without keeping the process alive; a run still going when the
 * next turn comes makes that turn pass, so two never overlap. Errors go to `onError`. Returns the
 * function that stops it.
 */
export function runPeriodically(intervalMs: number, task: () => Promise<unknown>, onError: (error: unknown) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch(onError)
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
