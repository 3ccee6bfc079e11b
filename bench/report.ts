import type { CpuShare, MachineInfo } from "./resource-usage.js";

/** Latency samples in milliseconds, kept whole so percentiles are exact. */
export class Samples {
  private values = new Float64Array(1024);
  private size = 0;
  private sorted: Float64Array | null = null;

  add(value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = value;
    this.sorted = null;
  }

  get count(): number {
    return this.size;
  }

  /** Nearest-rank percentile (p in 0..100); NaN when empty. */
  percentile(p: number): number {
    if (this.size === 0) return Number.NaN;
    this.sorted ??= this.values.slice(0, this.size).sort();
    const rank = Math.ceil((p / 100) * this.size);
    return this.sorted[Math.min(this.size, Math.max(1, rank)) - 1]!;
  }

  summary(): LatencySummary {
    return {
      count: this.size,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.percentile(100),
    };
  }
}

export type LatencySummary = { count: number; p50: number; p95: number; p99: number; max: number };

/** One line of a scenario's table: a figure and the CPU each side spent while it was measured. */
export type Figure = { label: string; value: string; cpu?: CpuShare | undefined };

export type Check = { name: string; ok: boolean; detail: string };

export type ScenarioResult = {
  id: string;
  title: string;
  parameters: Record<string, string | number>;
  figures: Figure[];
  /** Tables of their own, after the figures: one row per configuration, for scenarios that compare several. */
  tables?: { caption: string; headers: string[]; rows: string[][] }[] | undefined;
  /** Correctness: any failure fails the run. */
  checks: Check[];
  /** The issue's performance targets: reported, never failing the run. */
  targets: Check[];
  notes: string[];
  /** Raw numbers for ratios and JSON output. */
  metrics: Record<string, number>;
  /** Where the server's CPU profile was written, when --cpu-prof was given. */
  profile?: string | undefined;
};

/** A scenario's result before it measured anything: its name and parameters, every list empty. */
export function newScenarioResult(id: string, title: string, parameters: ScenarioResult["parameters"]): ScenarioResult {
  return { id, title, parameters, figures: [], checks: [], targets: [], notes: [], metrics: {} };
}

export type BenchReport = {
  label: string;
  startedAt: Date;
  command: string;
  machine: MachineInfo;
  database: string;
  scenarios: ScenarioResult[];
  ratios: Figure[];
  profiles: { scenario: string; summary: string }[];
};

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return "–";
  return `${Math.round(perSecond).toLocaleString("en-US")} ${unit}/s`;
}

export function formatCount(count: number): string {
  return Math.round(count).toLocaleString("en-US");
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "–";
  const abs = Math.abs(bytes);
  if (abs < 10 * 1024) return `${bytes.toFixed(0)} B`;
  if (abs < 10 * 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatLatency(summary: LatencySummary): string {
  if (summary.count === 0) return "no samples";
  return `p50 ${formatMs(summary.p50)} · p95 ${formatMs(summary.p95)} · p99 ${formatMs(summary.p99)} · max ${formatMs(summary.max)}`;
}

/**
 * CPU time each side spent per operation over a window: unlike throughput, it barely moves
 * when other processes compete for the cores, so runs on a busy machine stay comparable.
 */
/** CPU milliseconds per operation of one side's share (percent of a core over cpu.wallMs). */
export function cpuMsPerOperation(cpu: CpuShare, share: number, operations: number): number {
  return ((share / 100) * cpu.wallMs) / operations;
}

export function cpuPerOperation(cpu: CpuShare, operations: number, unit: string): string {
  if (operations <= 0) return "–";
  const each = (share: number) => {
    const ms = cpuMsPerOperation(cpu, share, operations);
    return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
  };
  return `server ${each(cpu.server)}, postgres ${each(cpu.postgres)}, generator ${each(cpu.generator)} per ${unit}`;
}

const percent = (value: number | undefined) => (value === undefined ? "" : `${value.toFixed(0)}%`);

function markdownTable(headers: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  return [
    `| ${headers.map(escape).join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.map(escape).join(" | ")} |`),
  ].join("\n");
}

function figureTable(figures: Figure[]): string {
  return markdownTable(
    ["figure", "value", "generator CPU", "server CPU", "postgres CPU", "other CPU"],
    figures.map((figure) => [
      figure.label,
      figure.value,
      percent(figure.cpu?.generator),
      percent(figure.cpu?.server),
      percent(figure.cpu?.postgres),
      percent(figure.cpu?.other),
    ]),
  );
}

function scenarioMarkdown(result: ScenarioResult): string {
  const parameters = Object.entries(result.parameters)
    .map(([name, value]) => `${name} ${value}`)
    .join(", ");
  const lines = [`### ${result.title}`, "", `Parameters: ${parameters}.`, ""];
  if (result.figures.length > 0) lines.push(figureTable(result.figures), "");
  for (const table of result.tables ?? []) lines.push(table.caption, "", markdownTable(table.headers, table.rows), "");
  lines.push(
    "Checks:",
    ...result.checks.map(
      (check) => `- ${check.ok ? "pass" : "**FAIL**"}: ${check.name}${check.detail ? ` (${check.detail})` : ""}`,
    ),
  );
  if (result.targets.length > 0) {
    lines.push(
      "",
      "Targets:",
      ...result.targets.map(
        (target) => `- ${target.ok ? "met" : "**not met**"}: ${target.name}${target.detail ? ` (${target.detail})` : ""}`,
      ),
    );
  }
  if (result.notes.length > 0) lines.push("", ...result.notes.map((note) => `Note: ${note}`));
  return lines.join("\n");
}

export function reportMarkdown(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `## Run \`${report.label}\`: ${report.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `- Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`,
    `- Database: ${report.database}`,
    `- Command: \`${report.command}\``,
    `- CPU columns: percent of one core over the figure's window (this machine has ${machine.cores}; the generator, the server and PostgreSQL share them). "other" is every other process on the machine: anything above a few percent means the figures were taken on a busy machine.`,
    "",
    ...report.scenarios.flatMap((scenario) => [scenarioMarkdown(scenario), ""]),
  ];
  if (report.ratios.length > 0) {
    lines.push("### Our figures as ratios to the baselines", "", figureTable(report.ratios), "");
  }
  for (const profile of report.profiles) {
    lines.push(`### CPU profile: ${profile.scenario}`, "", "```", profile.summary, "```", "");
  }
  return lines.join("\n");
}

const begin = (label: string) => `<!-- bench:begin ${label} -->`;
const end = (label: string) => `<!-- bench:end ${label} -->`;

/** Puts a run's section into BENCHMARKS.md, replacing the section of the same label if there is one. */
export function upsertSection(document: string, label: string, section: string): string {
  const block = `${begin(label)}\n${section.trimEnd()}\n${end(label)}`;
  const start = document.indexOf(begin(label));
  const stop = document.indexOf(end(label));
  if (start >= 0 && stop > start) return document.slice(0, start) + block + document.slice(stop + end(label).length);
  const base = document.trim() === "" ? "# Benchmarks\n" : document.trimEnd() + "\n";
  return `${base}\n${block}\n`;
}

export function allChecksPass(report: BenchReport): boolean {
  return report.scenarios.every((scenario) => scenario.checks.every((check) => check.ok));
}
