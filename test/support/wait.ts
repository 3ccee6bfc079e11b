import { setTimeout as sleep } from "node:timers/promises";

/** Polls `check` until it holds; for state that changes on a timer (the delivered cursor, the sweeper, a reconnect). */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  /** What is awaited; a function is asked at the deadline, to say what is still missing then. */
  what: string | (() => string),
  timeoutMs = 10_000,
  intervalMs = 50,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await sleep(intervalMs);
  }
}
