import { formatCount, formatMs, formatRate, newScenarioResult, type ScenarioResult } from "../report.js";
import type { BenchOptions } from "./context.js";
import { DIRECT_MESSAGE_CHECKS } from "./message-ledger.js";
import { loadPointFigures, measureOpenLoop, measureSaturation, startUserMix, type LoadPoint } from "./user-mix.js";

/** The issue's targets: send → delivery p99 at a share of the measured saturation. */
const P99_TARGETS_MS: Record<number, number> = { 50: 50, 70: 100 };

/**
 * Scenario 2: many users online, each sending now and then over its own connection to a few
 * others. Finds the saturation (closed loop), then offers fixed shares of it (open loop) and
 * reports the latency at each; every delivery is checked as it arrives.
 */
export async function runDirectMix(options: BenchOptions): Promise<ScenarioResult> {
  const result = newScenarioResult("direct-mix", "2. Direct messages: many users", {
    users: options.activeUsers,
    "load points": `closed loop, then ${options.loadPercents.map((percent) => `${percent} %`).join(", ")} of its rate`,
    "phase length": `${options.duration} s`,
    "text bytes": options.textBytes,
  });
  const mix = await startUserMix(options, "direct-mix", "mx");
  try {
    const durationMs = options.duration * 1000;
    const saturation = await measureSaturation(mix, durationMs);
    const saturationRate = saturation.figures.acceptedPerSecond;
    options.log(`  saturation: ${saturationRate.toFixed(0)}/s accepted`);
    result.figures.push(...loadPointFigures("saturation", saturation));
    const points: [number, LoadPoint][] = [];
    for (const percent of options.loadPercents) {
      const rate = Math.max(1, (saturationRate * percent) / 100);
      const point = await measureOpenLoop(mix, `load-${percent}`, rate, durationMs);
      options.log(`  ${percent} % (${rate.toFixed(0)}/s): p99 ${formatMs(point.delivery.p99)}`);
      points.push([percent, point]);
      result.figures.push(...loadPointFigures(`${percent} % of saturation (open loop)`, point));
    }
    mix.ledger.verifyComplete();

    result.metrics.saturationAcceptedPerSecond = saturationRate;
    result.metrics.saturationDeliveryP50 = saturation.delivery.p50;
    result.metrics.saturationDeliveryP99 = saturation.delivery.p99;
    for (const [percent, point] of points) {
      result.metrics[`load${percent}Offered`] = point.offered!;
      result.metrics[`load${percent}Accepted`] = point.figures.acceptedPerSecond;
      result.metrics[`load${percent}DeliveryP50`] = point.delivery.p50;
      result.metrics[`load${percent}DeliveryP95`] = point.delivery.p95;
      result.metrics[`load${percent}DeliveryP99`] = point.delivery.p99;
      result.metrics[`load${percent}DeliveryMax`] = point.delivery.max;
      const target = P99_TARGETS_MS[percent];
      if (target !== undefined) {
        result.targets.push({
          name: `send → delivery p99 ≤ ${target} ms at ${percent} % of saturation (${formatRate(point.offered!, "msg")} offered)`,
          ok: point.delivery.p99 <= target && point.gaveUpAfterMs === undefined,
          detail: formatMs(point.delivery.p99),
        });
      }
    }
    const all = [saturation, ...points.map(([, point]) => point)];
    const undrained = all.filter((point) => !point.drained).map((point) => point.phase);
    result.checks.push(
      {
        name: "every accepted message delivered within the drain time",
        ok: undrained.length === 0,
        detail: undrained.length === 0 ? "" : `${mix.ledger.undelivered()} still undelivered (phases ${undrained.join(", ")})`,
      },
      ...mix.ledger.violations.checks(DIRECT_MESSAGE_CHECKS),
    );
    const [firstPercent, firstPoint] = points[0] ?? [];
    result.notes.push(
      `each user keeps one stream and one keep-alive connection of its own and sends one message at a time, to a few contacts in turn; the open loop hands message i to user i mod N${firstPoint ? `, so at ${firstPercent} % each of the ${formatCount(mix.senders.length)} users sent one every ${formatMs((1000 * mix.senders.length) / firstPoint.offered!)}` : ""}`,
      "latency counts from each message's planned time (open loop); at saturation every user has one message in flight, so the closed-loop latency is the queue that many users make",
    );
  } finally {
    await mix.close();
  }
  return result;
}
