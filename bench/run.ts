/**
 * npm run bench -- [--tiny | --full] [--scenario idle,direct,direct-hot,broadcast,reconnect,baselines,soak | storage | table-size]
 *   [--users N] [--senders M] [--recipients P] [--rate R] [--storm-rate R] [--duration S]
 *   [--active-users N] [--load-percents 50,70] [--soak-minutes M] [--soak-rate R]
 *   [--fanout K] [--broadcasts B] [--concurrency C] [--text-bytes N] [--time-limit S]
 *   [--instances 1,2,4] [--bus nats,postgres] [--instance-rate R] [--nats-port P] [--user-counts 1000,5000]
 *   [--database-url URL | --embedded] [--cpu-prof] [--node-options=FLAGS] [--label NAME] [--out BENCHMARKS.md | --no-write] [--json FILE]
 *   [--svg FILE] [--plot-from FILE.json]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { latencySvg, type PlotInput } from "./latency-plot.js";
import { allChecksPass, reportMarkdown, upsertSection } from "./report.js";
import { DEFAULT_SCENARIOS, PRESETS, runBench, SCENARIO_NAMES, type ScenarioName, type Sizes } from "./runner.js";
import { BUSES, type Bus } from "./scenarios/instances.js";
import { repoRoot } from "./server-process.js";
import { measureStorage, storageMarkdown } from "./storage.js";
import { measureTableSize, tableSizeMarkdown } from "./table-size.js";

/** Deliveries the storage scenario stores of each kind (direct messages; broadcast recipients). */
const STORAGE_DELIVERIES = 20_000;

const USAGE = `usage: npm run bench -- [options]
  --tiny | --full            sizes: tiny (seconds, the test suite's), default small, full (the issue's, minutes)
  --scenario <list>          comma-separated: ${SCENARIO_NAMES.join(",")} (default all but instances);
                             or storage alone: bytes on disk per direct message and per broadcast recipient
                             (20,000 of each, in-process; --text-bytes and --fanout apply);
                             or table-size alone: PostgreSQL CPU per message batch statement against the
                             number of users (in-process, PostgreSQL only; --user-counts, --duration apply)
  --users <n>                idle streams and reconnect storm: users with a stream each
  --active-users <n>         direct (many users) and soak: users online, each sending to 8 others
                             over a connection of its own (tiny 20, small and full 1000)
  --load-percents <list>     direct (many users): open-loop loads in percent of the measured
                             saturation (tiny and small 50,70; full 30,50,70,90)
  --soak-minutes <m>         soak: minutes at a fixed rate, reported per minute (tiny 0.1, small 3, full 30)
  --soak-rate <r>            soak: offered messages/s (default: half the saturation it measures first)
  --senders <m>              direct-hot: users posting messages (also HTTP connections for baselines)
  --recipients <p>           direct-hot: users with a stream receiving them
  --rate <r>                 direct-hot: offered messages/s in the fixed-rate phase
  --storm-rate <r>           reconnect storm: offered messages/s
  --duration <s>             seconds per measured phase
  --fanout <k>               broadcast recipients
  --broadcasts <b>           broadcasts sent one after another
  --concurrency <c>          logins / stream opens in flight during setup
  --text-bytes <n>           message text size
  --full-presence-check-up-to <n>  parse every presence notice up to n users (default 2000)
  --time-limit <s>           idle streams: stop logging users in after this long (tiny 60, small 120, full 300)
  --instances <list>         several instances: instance counts to compare (tiny 1,2; small and full 1,2,4);
                             --senders and --recipients are then per instance
  --bus <list>               several instances: ${BUSES.join(",")} (default both)
  --instance-rate <r>        several instances: offered messages/s per instance (tiny 50, small 150, full 300)
  --nats-port <p>            several instances: loopback port for the bench's own nats-server (default: any free)
  --user-counts <list>       table-size: users in the table, each online (tiny 200,2000; else 1000,5000,20000)
  --database-url <url>       PostgreSQL server for scratch databases (default $DATABASE_URL)
  --embedded                 run the service on embedded PGlite instead
  --cpu-prof                 write the server's V8 CPU profile per scenario (bench/profiles/) and summarise it
  --node-options=<flags>     extra Node.js and V8 flags for the service's processes, space-separated, after
                             an equals sign (--node-options=--max-semi-space-size=64); the report's command shows them
  --label <name>             section name in BENCHMARKS.md (default "latest"); a run replaces its label's section
  --out <file>               report file (default BENCHMARKS.md)    --no-write  print only
  --json <file>              also write the raw results as JSON
  --svg <file>               latency against load as SVG (default docs/bench/latency.svg unless --no-write)
  --plot-from <file.json>    only redraw the SVG from a run's --json output`;

const numberFlags = {
  users: "users",
  senders: "senders",
  recipients: "recipients",
  rate: "rate",
  "storm-rate": "stormRate",
  duration: "duration",
  fanout: "fanout",
  broadcasts: "broadcasts",
  concurrency: "concurrency",
  "text-bytes": "textBytes",
  "full-presence-check-up-to": "fullPresenceCheckUpTo",
  "time-limit": "timeLimit",
  "instance-rate": "instanceRate",
  "active-users": "activeUsers",
  "soak-minutes": "soakMinutes",
  "soak-rate": "soakRate",
} as const satisfies Record<string, keyof Sizes>;

function parse() {
  const { values } = parseArgs({
    options: {
      tiny: { type: "boolean" },
      full: { type: "boolean" },
      scenario: { type: "string" },
      ...Object.fromEntries(Object.keys(numberFlags).map((name) => [name, { type: "string" as const }])),
      instances: { type: "string" },
      "load-percents": { type: "string" },
      bus: { type: "string" },
      "nats-port": { type: "string" },
      "user-counts": { type: "string" },
      "database-url": { type: "string" },
      embedded: { type: "boolean" },
      "cpu-prof": { type: "boolean" },
      "node-options": { type: "string" },
      label: { type: "string" },
      out: { type: "string" },
      "no-write": { type: "boolean" },
      json: { type: "string" },
      svg: { type: "string" },
      "plot-from": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const sizes: Sizes = { ...PRESETS[values.tiny ? "tiny" : values.full ? "full" : "small"] };
  for (const [flag, key] of Object.entries(numberFlags)) {
    const raw = values[flag as keyof typeof values];
    if (typeof raw !== "string") continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${flag} must be a positive number`);
    sizes[key] = value;
  }
  if (values.instances !== undefined) {
    sizes.instanceCounts = values.instances.split(",").map(Number);
    if (!sizes.instanceCounts.every((count) => Number.isInteger(count) && count > 0))
      throw new Error("--instances must list positive whole numbers, e.g. 1,2,4");
  }
  if (values["load-percents"] !== undefined) {
    sizes.loadPercents = values["load-percents"].split(",").map(Number);
    if (!sizes.loadPercents.every((percent) => Number.isInteger(percent) && percent > 0 && percent < 100))
      throw new Error("--load-percents must list whole percentages between 1 and 99, e.g. 50,70");
  }
  if (values.bus !== undefined) {
    sizes.buses = values.bus.split(",").map((bus) => bus.trim()) as Bus[];
    for (const bus of sizes.buses) if (!BUSES.includes(bus)) throw new Error(`unknown bus ${bus}; one of ${BUSES.join(", ")}`);
  }
  const natsPort = values["nats-port"] === undefined ? undefined : Number(values["nats-port"]);
  if (natsPort !== undefined && !(Number.isInteger(natsPort) && natsPort > 0 && natsPort < 65536))
    throw new Error("--nats-port must be a port number");
  const storage = values.scenario?.trim() === "storage";
  const tableSize = values.scenario?.trim() === "table-size";
  const userCounts = (values["user-counts"] ?? (values.tiny ? "200,2000" : "1000,5000,20000")).split(",").map(Number);
  if (!userCounts.every((count) => Number.isInteger(count) && count > 0))
    throw new Error("--user-counts must list positive whole numbers, e.g. 1000,5000");
  const scenarios =
    storage || tableSize
      ? []
      : ((values.scenario ?? DEFAULT_SCENARIOS.join(",")).split(",").map((name) => name.trim()) as ScenarioName[]);
  for (const name of scenarios)
    if (!SCENARIO_NAMES.includes(name)) throw new Error(`unknown scenario ${name}; one of ${SCENARIO_NAMES.join(", ")}`);
  const databaseUrl = values.embedded ? undefined : (values["database-url"] ?? process.env.DATABASE_URL) || undefined;
  if (!databaseUrl && !values.embedded && !values.tiny && !values["plot-from"]) {
    throw new Error(
      "set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) or pass --database-url, or --embedded for PGlite",
    );
  }
  if (tableSize && !databaseUrl) throw new Error("the table-size scenario measures a PostgreSQL server: set DATABASE_URL");
  return { values, sizes, scenarios, storage, tableSize, userCounts, databaseUrl, natsPort };
}

async function main() {
  let parsed;
  try {
    parsed = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const { values, sizes, scenarios, storage, tableSize, userCounts, databaseUrl, natsPort } = parsed;
  if (values["plot-from"]) return writePlot(values, JSON.parse(readFileSync(values["plot-from"], "utf8")) as PlotInput);
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const command = ["npm run bench --", ...process.argv.slice(2)].join(" ");
  if (storage) return runStorage(values, sizes, databaseUrl, stamp, command);
  if (tableSize && databaseUrl) {
    const startedAt = new Date();
    const result = await measureTableSize({
      databaseUrl,
      runId: `${stamp}_${process.pid}`,
      userCounts,
      batchSizes: [1, 8],
      seconds: "duration" in values ? sizes.duration : values.tiny ? 0.5 : 3,
      textBytes: sizes.textBytes,
      log: (line) => console.error(line),
    });
    return writeSection(values, values.label ?? "table-size", tableSizeMarkdown(result, startedAt, command));
  }
  const report = await runBench({
    sizes,
    scenarios,
    databaseUrl,
    cpuProfileDir: values["cpu-prof"] ? join(repoRoot, "bench", "profiles", stamp) : undefined,
    nodeOptions: values["node-options"]?.split(/\s+/).filter(Boolean) ?? [],
    natsPort,
    label: values.label ?? "latest",
    command,
    log: (line) => console.error(line),
  });
  writeSection(values, report.label, reportMarkdown(report));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
  writePlot(values, report);
  if (!allChecksPass(report)) {
    console.error("FAILED: a correctness check did not hold (see above)");
    process.exit(1);
  }
}

async function runStorage(
  values: ReturnType<typeof parse>["values"],
  sizes: Sizes,
  databaseUrl: string | undefined,
  stamp: string,
  command: string,
) {
  const startedAt = new Date();
  const result = await measureStorage({
    databaseUrl,
    runId: `${stamp}_${process.pid}`,
    messages: STORAGE_DELIVERIES,
    broadcastRecipients: sizes.fanout,
    textBytes: sizes.textBytes,
    log: (line) => console.error(line),
  });
  writeSection(values, values.label ?? "storage", storageMarkdown(result, startedAt, command));
}

/** Draws latency against load to --svg, or to docs/bench/latency.svg when the run writes its report. */
function writePlot(values: ReturnType<typeof parse>["values"], input: PlotInput) {
  const out = values.svg ?? (values["no-write"] ? undefined : join(repoRoot, "docs", "bench", "latency.svg"));
  const svg = out && latencySvg(input);
  if (!out || !svg) return;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, svg);
  console.error(`wrote ${out}`);
}

function writeSection(values: ReturnType<typeof parse>["values"], label: string, markdown: string) {
  console.log(markdown);
  if (values["no-write"]) return;
  const out = values.out ?? join(repoRoot, "BENCHMARKS.md");
  const existing = existsSync(out) ? readFileSync(out, "utf8") : "";
  writeFileSync(out, upsertSection(existing, label, markdown));
  console.error(`wrote section "${label}" to ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
