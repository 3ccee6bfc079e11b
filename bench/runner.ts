import { rmSync } from "node:fs";
import { describePostgres } from "./database.js";
import { summarizeProfile } from "./profile-summary.js";
import { newScenarioResult, type BenchReport, type ScenarioResult } from "./report.js";
import { describeMachine } from "./resource-usage.js";
import { ratioFigures, runBaselines } from "./scenarios/baselines.js";
import { runBroadcastFanout } from "./scenarios/broadcast-fanout.js";
import { makeWorkDir, mainThreadProfile, type BenchOptions } from "./scenarios/context.js";
import { runDirectMessages } from "./scenarios/direct-messages.js";
import { runDirectMix } from "./scenarios/direct-mix.js";
import { runIdleStreams } from "./scenarios/idle-streams.js";
import { runInstances } from "./scenarios/instances.js";
import { runReconnectStorm } from "./scenarios/reconnect-storm.js";
import { runSoak } from "./scenarios/soak.js";
import { buildService } from "./server-process.js";

const SCENARIOS = {
  idle: runIdleStreams,
  direct: runDirectMix,
  "direct-hot": runDirectMessages,
  broadcast: runBroadcastFanout,
  reconnect: runReconnectStorm,
  baselines: runBaselines,
  soak: runSoak,
  instances: runInstances,
} satisfies Record<string, (options: BenchOptions) => Promise<ScenarioResult>>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];
/** What a run without --scenario runs: every scenario of one server (several instances are asked for by name). */
export const DEFAULT_SCENARIOS = SCENARIO_NAMES.filter((name) => name !== "instances");

export type Sizes = Pick<
  BenchOptions,
  | "users"
  | "senders"
  | "recipients"
  | "rate"
  | "stormRate"
  | "duration"
  | "fanout"
  | "broadcasts"
  | "concurrency"
  | "textBytes"
  | "fullPresenceCheckUpTo"
  | "timeLimit"
  | "instanceCounts"
  | "buses"
  | "instanceRate"
  | "activeUsers"
  | "loadPercents"
  | "soakMinutes"
  | "soakRate"
>;

/** Seconds for the whole suite: tiny is the test suite's, small the default, full the sizes. */
export const PRESETS: Record<"tiny" | "small" | "full", Sizes> = {
  tiny: {
    users: 20,
    senders: 4,
    recipients: 4,
    rate: 200,
    stormRate: 100,
    duration: 1,
    fanout: 10,
    broadcasts: 2,
    concurrency: 8,
    textBytes: 100,
    fullPresenceCheckUpTo: 2000,
    timeLimit: 60,
    instanceCounts: [1, 2],
    buses: ["nats", "postgres"],
    instanceRate: 50,
    activeUsers: 20,
    loadPercents: [50, 70],
    soakMinutes: 0.1,
    soakRate: undefined,
  },
  small: {
    users: 1000,
    senders: 50,
    recipients: 50,
    rate: 2000,
    stormRate: 500,
    duration: 3,
    fanout: 1000,
    broadcasts: 3,
    concurrency: 64,
    textBytes: 100,
    fullPresenceCheckUpTo: 2000,
    timeLimit: 120,
    instanceCounts: [1, 2, 4],
    buses: ["nats", "postgres"],
    instanceRate: 150,
    activeUsers: 1000,
    loadPercents: [50, 70],
    soakMinutes: 3,
    soakRate: undefined,
  },
  full: {
    users: 10_000,
    senders: 200,
    recipients: 200,
    rate: 2000,
    stormRate: 1000,
    duration: 10,
    fanout: 5000,
    broadcasts: 5,
    concurrency: 64,
    textBytes: 100,
    fullPresenceCheckUpTo: 2000,
    timeLimit: 300,
    instanceCounts: [1, 2, 4],
    buses: ["nats", "postgres"],
    instanceRate: 300,
    activeUsers: 1000,
    loadPercents: [30, 50, 70, 90],
    soakMinutes: 30,
    soakRate: undefined,
  },
};

export type RunRequest = {
  sizes: Sizes;
  scenarios: ScenarioName[];
  /** PostgreSQL server for scratch databases; undefined runs the service on embedded PGlite. */
  databaseUrl: string | undefined;
  cpuProfileDir?: string | undefined;
  /** Extra Node.js and V8 flags for the service's processes. */
  nodeOptions?: string[];
  /** Several instances: the port for the benchmark's nats-server (default: one it picks). */
  natsPort?: number | undefined;
  label: string;
  command: string;
  log?: (line: string) => void;
};

/** Runs the scenarios one after another, each against its own fresh server and database. */
export async function runBench(request: RunRequest): Promise<BenchReport> {
  const log = request.log ?? (() => {});
  buildService();
  const workDir = makeWorkDir();
  const startedAt = new Date();
  const options: BenchOptions = {
    ...request.sizes,
    databaseUrl: request.databaseUrl,
    cpuProfileDir: request.cpuProfileDir,
    nodeOptions: request.nodeOptions ?? [],
    natsPort: request.natsPort,
    workDir,
    // Names scratch databases and tags message texts: unique per run, even for runs started together.
    runId: `${startedAt.toISOString().replace(/\D/g, "").slice(0, 14)}_${process.pid}`,
    log,
  };
  const report: BenchReport = {
    label: request.label,
    startedAt,
    command: request.command,
    machine: describeMachine(),
    database: request.databaseUrl ? await describePostgres(request.databaseUrl) : "embedded PGlite (no DATABASE_URL)",
    scenarios: [],
    ratios: [],
    profiles: [],
  };
  try {
    for (const name of request.scenarios) {
      log(`scenario ${name}`);
      let result: ScenarioResult;
      try {
        result = await SCENARIOS[name](options);
      } catch (error) {
        result = newScenarioResult(name, name, {});
        result.checks.push({ name: "scenario ran to completion", ok: false, detail: (error as Error).stack ?? String(error) });
      }
      const profile = mainThreadProfile(options.cpuProfileDir && `${options.cpuProfileDir}/${result.id}`);
      if (profile) {
        result.profile = profile;
        report.profiles.push({ scenario: result.title, summary: summarizeProfile(profile, 15) });
      }
      for (const check of result.checks) if (!check.ok) log(`  FAIL ${check.name}: ${check.detail}`);
      report.scenarios.push(result);
    }
    report.ratios = ratioFigures(report.scenarios);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return report;
}
