import { createObservability, type Observability } from "../../src/observability/telemetry.js";

export type LogEntry = { level: number; msg: string; [field: string]: unknown };

/** Observability whose log lines are kept in memory, to be read back by the test. */
export function capturedObservability(processMetrics = false) {
  const lines: string[] = [];
  const destination = { write: (chunk: string) => void lines.push(...chunk.split("\n").filter((line) => line !== "")) };
  const observability: Observability = createObservability({ logLevel: "info", destination, pretty: false, processMetrics });
  return {
    observability,
    /** Everything written so far, as one string (to look for secrets). */
    text: () => lines.join("\n"),
    entries: (): LogEntry[] => lines.map((line) => JSON.parse(line) as LogEntry),
  };
}

/** The value of one sample in a Prometheus text exposition, or undefined when there is none with those labels. */
export function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}
