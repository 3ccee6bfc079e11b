import type { Origin } from "./load/http-client.js";

/** One scrape of an instance's /metrics: every sample by `name{labels}` as printed. */
export type MetricsSample = Map<string, number>;

/** Fetches and parses the Prometheus text exposition of one instance. */
export async function scrapeMetrics(origin: Origin): Promise<MetricsSample> {
  const response = await fetch(`http://${origin.host}:${origin.port}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics on port ${origin.port}: ${response.status}`);
  return parseMetrics(await response.text());
}

export function parseMetrics(text: string): MetricsSample {
  const samples: MetricsSample = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const split = line.lastIndexOf(" ");
    samples.set(line.slice(0, split), Number(line.slice(split + 1)));
  }
  return samples;
}

/**
 * The sum of every series of `name` whose labels include `labels` (e.g. `kind="event"`), or
 * undefined when the instance does not export `name` at all (an older build).
 */
export function sumMetric(sample: MetricsSample, name: string, labels = ""): number | undefined {
  let sum: number | undefined;
  for (const [series, value] of sample) {
    const bare = series === name;
    if (!bare && !series.startsWith(`${name}{`)) continue;
    if (labels && (bare || !series.includes(labels))) continue;
    sum = (sum ?? 0) + value;
  }
  return sum;
}

/** How much `name` (filtered by `labels`) grew between two scrapes; undefined when not exported. */
export function metricDelta(before: MetricsSample, after: MetricsSample, name: string, labels = ""): number | undefined {
  const end = sumMetric(after, name, labels);
  if (end === undefined) return undefined;
  return end - (sumMetric(before, name, labels) ?? 0);
}
