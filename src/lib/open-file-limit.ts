import { readFileSync } from "node:fs";

/**
 * The soft limit on open files of this process (Node raises it to the hard limit at start), from
 * /proc/self/limits; undefined where that cannot be read (not Linux) or there is no limit.
 */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((candidate) => candidate.startsWith("Max open files"));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
