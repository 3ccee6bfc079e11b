import { nowMs, sleep } from "../load/clock.js";
import {
  cpuMsPerOperation,
  formatBytes,
  formatCount,
  formatLatency,
  formatMs,
  formatRate,
  Samples,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter, readRss, type CpuShare } from "../resource-usage.js";
import type { BenchOptions } from "./context.js";
import { DIRECT_MESSAGE_CHECKS } from "./message-ledger.js";
import { offerAtRate } from "./message-senders.js";
import { measureSaturation, setPhase, startUserMix } from "./user-mix.js";

/** Intervals are a minute long, or a third of a run shorter than three minutes. */
const INTERVAL_MS = 60_000;

type Interval = {
  startMs: number;
  accepted: number;
  delivery: Samples;
  rss: number;
  serverCpuMsPerMessage: number;
  postgresCpuMsPerMessage: number;
  generatorCpuMsPerMessage: number;
  /** Every other process on the machine, in percent of one core. */
  otherCpu: number;
};

/**
 * Scenario 7: the many-users mix at a fixed offered rate for minutes on end, reported per
 * minute (accepted rate, send → delivery p50/p99, server RSS, server, PostgreSQL and generator
 * CPU per message, the machine's other CPU), so a slowdown as the tables grow, or a leak, shows as
 * a trend. The saturation is measured again at the end, over the tables the soak filled.
 */
export async function runSoak(options: BenchOptions): Promise<ScenarioResult> {
  const totalMs = Math.round(options.soakMinutes * 60_000);
  const intervalMs = Math.min(INTERVAL_MS, totalMs / 3);
  const intervalCount = Math.round(totalMs / intervalMs);
  const result = newScenarioResult("soak", "7. Soak: many users at a fixed rate", {
    users: options.activeUsers,
    length: totalMs >= 60_000 ? `${options.soakMinutes} min` : `${totalMs / 1000} s`,
    "offered rate": options.soakRate === undefined ? "half the saturation measured first" : `${options.soakRate}/s`,
    "text bytes": options.textBytes,
  });
  const mix = await startUserMix(options, "soak", "sk");
  try {
    const { ledger, senders, scenario } = mix;
    const pid = scenario.server.pid;
    let rate = options.soakRate;
    let saturationBefore: number | undefined;
    if (rate === undefined) {
      const saturation = await measureSaturation(mix, options.duration * 1000);
      saturationBefore = saturation.figures.acceptedPerSecond;
      rate = Math.max(1, saturationBefore / 2);
      result.figures.push({
        label: "saturation measured first (closed loop)",
        value: formatRate(saturation.figures.acceptedPerSecond, "msg"),
        cpu: saturation.cpu,
      });
      if (saturation.drained) ledger.retire("saturation");
    }
    options.log(`  soak: ${rate.toFixed(0)}/s for ${totalMs / 1000} s, reported every ${intervalMs / 1000} s`);
    const rssBefore = readRss(pid);
    const intervals: Interval[] = [];
    const overall = new Samples();
    let undrainedPhases = 0;
    /** Figures for one interval's messages once they had time to arrive, then forgets them. */
    const closeInterval = async (index: number, startMs: number, rss: number, cpu: CpuShare) => {
      const phase = `soak-${index}`;
      const drained = await mix.drain(phase);
      const delivery = new Samples();
      let accepted = 0;
      for (const record of ledger.byPhase.get(phase) ?? []) {
        if (record.status === 201) accepted++;
        if (record.deliveries > 0) {
          delivery.add(record.deliveredAt - record.plannedAt);
          overall.add(record.deliveredAt - record.plannedAt);
        }
      }
      const msPerMessage = (share: number) => cpuMsPerOperation(cpu, share, Math.max(1, accepted));
      intervals.push({
        startMs,
        accepted,
        delivery,
        rss,
        serverCpuMsPerMessage: msPerMessage(cpu.server),
        postgresCpuMsPerMessage: msPerMessage(cpu.postgres),
        generatorCpuMsPerMessage: msPerMessage(cpu.generator),
        otherCpu: cpu.other,
      });
      // An undrained interval stays in the ledger; the final check reports it.
      if (drained) ledger.retire(phase);
      else undrainedPhases++;
    };

    setPhase(senders, "soak-0");
    const startedAt = nowMs();
    const traffic = offerAtRate(senders, rate, totalMs);
    let meter = new CpuMeter(pid);
    for (let index = 0; index + 1 < intervalCount; index++) {
      await sleep(Math.max(0, startedAt + (index + 1) * intervalMs - nowMs()));
      setPhase(senders, `soak-${index + 1}`);
      const rss = readRss(pid);
      const cpu = meter.stop();
      meter = new CpuMeter(pid);
      await closeInterval(index, index * intervalMs, rss, cpu);
    }
    const offer = await traffic;
    await closeInterval(intervalCount - 1, (intervalCount - 1) * intervalMs, readRss(pid), meter.stop());
    const saturationAfter = await measureSaturation(mix, options.duration * 1000, "saturation-after");
    if (saturationAfter.drained) ledger.retire("saturation-after");
    ledger.verifyComplete();

    const first = intervals[0];
    const last = intervals.at(-1);
    const minutes = (ms: number) => (intervalMs >= 60_000 ? `${ms / 60_000} min` : `${ms / 1000} s`);
    result.tables = [
      {
        caption: `Per ${intervalMs >= 60_000 ? "minute" : `${intervalMs / 1000} s`} (messages by the time they were planned; RSS read at the interval's end):`,
        headers: [
          "from",
          "accepted",
          "send → delivery p50",
          "p99",
          "max",
          "server RSS",
          "server CPU per message",
          "PostgreSQL CPU per message",
          "generator CPU per message",
          "other CPU",
        ],
        rows: intervals.map((interval) => [
          minutes(interval.startMs),
          formatRate((1000 * interval.accepted) / intervalMs, "msg"),
          formatMs(interval.delivery.percentile(50)),
          formatMs(interval.delivery.percentile(99)),
          formatMs(interval.delivery.percentile(100)),
          formatBytes(interval.rss),
          `${(interval.serverCpuMsPerMessage * 1000).toFixed(0)} µs`,
          `${(interval.postgresCpuMsPerMessage * 1000).toFixed(0)} µs`,
          `${(interval.generatorCpuMsPerMessage * 1000).toFixed(0)} µs`,
          `${interval.otherCpu.toFixed(0)}%`,
        ]),
      },
    ];
    const accepted = intervals.reduce((sum, interval) => sum + interval.accepted, 0);
    result.figures.push(
      {
        label: "offered",
        value: `${formatRate(rate, "msg")} for ${formatMs(totalMs)} (${formatCount(offer.planned)} messages${offer.gaveUpAt === undefined ? "" : `; server overloaded, stopped offering after ${formatMs(offer.gaveUpAt - offer.startedAt)}`})`,
      },
      { label: "accepted (201)", value: formatRate((1000 * accepted) / totalMs, "msg") },
      { label: "send → delivery over the whole run (open loop)", value: formatLatency(overall.summary()) },
      {
        label: "send → delivery p99, first / last interval",
        value: `${formatMs(first?.delivery.percentile(99) ?? Number.NaN)} / ${formatMs(last?.delivery.percentile(99) ?? Number.NaN)}`,
      },
      {
        label: "saturation after the soak (closed loop, over the tables it filled)",
        value:
          formatRate(saturationAfter.figures.acceptedPerSecond, "msg") +
          (saturationBefore === undefined
            ? ""
            : ` (${(saturationAfter.figures.acceptedPerSecond / saturationBefore).toFixed(2)}× the saturation before)`),
        cpu: saturationAfter.cpu,
      },
      {
        label: "server RSS before / after the first interval / at the end",
        value: `${formatBytes(rssBefore)} / ${formatBytes(first?.rss ?? Number.NaN)} / ${formatBytes(last?.rss ?? Number.NaN)}`,
      },
    );
    result.metrics = {
      offeredPerSecond: rate,
      acceptedPerSecond: (1000 * accepted) / totalMs,
      deliveryP50: overall.percentile(50),
      deliveryP99: overall.percentile(99),
      intervals: intervals.length,
      firstIntervalP99: first?.delivery.percentile(99) ?? Number.NaN,
      lastIntervalP99: last?.delivery.percentile(99) ?? Number.NaN,
      firstIntervalRss: first?.rss ?? Number.NaN,
      lastIntervalRss: last?.rss ?? Number.NaN,
      saturationBeforePerSecond: saturationBefore ?? Number.NaN,
      saturationAfterPerSecond: saturationAfter.figures.acceptedPerSecond,
    };
    result.checks.push(
      {
        name: "every accepted message delivered within the drain time",
        ok: undrainedPhases === 0,
        detail: undrainedPhases === 0 ? "" : `${ledger.undelivered()} still undelivered`,
      },
      ...ledger.violations.checks(DIRECT_MESSAGE_CHECKS),
    );
    result.notes.push(
      "each interval's messages are checked and then forgotten by the generator, so its own memory stays flat however long the run; a later delivery of a forgotten message counts as a duplicate",
    );
  } finally {
    await mix.close();
  }
  return result;
}
