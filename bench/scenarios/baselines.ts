import { spawn } from "node:child_process";
import { createScratchDatabase } from "../database.js";
import { nowMs, sleep } from "../load/clock.js";
import { HttpConnection } from "../load/http-client.js";
import {
  cpuPerOperation,
  formatLatency,
  formatRate,
  Samples,
  type Figure,
  type LatencySummary,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter, type CpuShare } from "../resource-usage.js";
import { repoRoot, ServerProcess } from "../server-process.js";
import type { BenchOptions } from "./context.js";

type HttpCeiling = { requestsPerSecond: number; latency: LatencySummary; cpu: CpuShare };

/** Closed loop over `connections` keep-alive connections for `durationMs`: the same driver the service gets. */
async function driveTrivialPost(
  server: ServerProcess,
  connections: number,
  durationMs: number,
  textBytes: number,
): Promise<HttpCeiling> {
  const body = JSON.stringify({ to: "u00001", text: "x".repeat(textBytes) });
  const headers = { Authorization: "Bearer baseline-token-of-realistic-length-0123456789abcdef0123456789abcdef" };
  const pool = Array.from({ length: connections }, () => new HttpConnection(server.origin));
  await Promise.all(pool.map((connection) => connection.request("POST", "/messages", { headers, body })));
  const latency = new Samples();
  let count = 0;
  const meter = new CpuMeter(server.pid);
  const startedAt = nowMs();
  const until = startedAt + durationMs;
  await Promise.all(
    pool.map(async (connection) => {
      while (nowMs() < until) {
        const sentAt = nowMs();
        const response = await connection.request("POST", "/messages", { headers, body });
        if (response.status !== 201) throw new Error(`baseline answered ${response.status}`);
        latency.add(nowMs() - sentAt);
        count++;
      }
    }),
  );
  const elapsed = nowMs() - startedAt;
  const cpu = meter.stop();
  for (const connection of pool) connection.close();
  return { requestsPerSecond: (1000 * count) / elapsed, latency: latency.summary(), cpu };
}

type PgMode = { mode: string; concurrency: number; perSecond: number; latency: LatencySummary; cpu: CpuShare };

function runPgBaseline(url: string, options: BenchOptions): Promise<PgMode[]> {
  return new Promise((resolve, reject) => {
    const args = [
      "--import",
      "tsx",
      "bench/baselines/pg-insert.ts",
      url,
      String(Math.min(64, options.senders)),
      String(options.duration),
      String(Math.max(64, options.recipients)),
      String(options.textBytes),
    ];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let errors = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`pg-insert baseline exited with ${code}: ${errors.slice(-2000)}`));
      else
        resolve(
          output
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line) as PgMode),
        );
    });
  });
}

/**
 * Scenario 5: the ceilings our figures are divided by, measured in the same run: a bare
 * node:http and a bare @hono/node-server answering a trivial POST, and plain postgres.js
 * writing the rows a message makes.
 */
export async function runBaselines(options: BenchOptions): Promise<ScenarioResult> {
  const result = newScenarioResult("baselines", "5. Baselines (same machine, same run)", {
    "HTTP connections": options.senders,
    "phase length": `${options.duration} s`,
    "text bytes": options.textBytes,
  });
  for (const kind of ["node", "hono"] as const) {
    const server = await ServerProcess.start(`${kind} baseline`, ["--import", "tsx", "bench/baselines/trivial-server.ts", kind]);
    try {
      const ceiling = await driveTrivialPost(server, options.senders, options.duration * 1000, options.textBytes);
      const label = kind === "node" ? "bare node:http, trivial POST" : "bare @hono/node-server, trivial POST";
      result.figures.push(
        { label: `${label}: requests`, value: formatRate(ceiling.requestsPerSecond, "req"), cpu: ceiling.cpu },
        { label: `${label}: latency (closed loop)`, value: formatLatency(ceiling.latency), cpu: ceiling.cpu },
        {
          label: `${label}: CPU per request`,
          value: cpuPerOperation(ceiling.cpu, (ceiling.requestsPerSecond * ceiling.cpu.wallMs) / 1000, "request"),
          cpu: ceiling.cpu,
        },
      );
      result.metrics[`${kind}RequestsPerSecond`] = ceiling.requestsPerSecond;
      result.metrics[`${kind}LatencyP50`] = ceiling.latency.p50;
      result.metrics[`${kind}LatencyP99`] = ceiling.latency.p99;
      result.metrics[`${kind}ServerCpuMsPerRequest`] = ((ceiling.cpu.server / 100) * 1000) / ceiling.requestsPerSecond;
    } finally {
      await server.stop();
    }
    await sleep(200);
  }
  result.checks.push({ name: "both bare servers answered every request with 201", ok: true, detail: "" });
  if (options.databaseUrl) {
    const database = await createScratchDatabase(options.databaseUrl, `bench_${options.runId}_baseline`);
    try {
      const modes = await runPgBaseline(database.url, options);
      modes.forEach((mode, index) => {
        result.figures.push({
          label: `postgres.js: ${mode.mode}, ${mode.concurrency} writers`,
          value: `${formatRate(mode.perSecond, "msg")}; per write ${formatLatency(mode.latency)}; ${cpuPerOperation(mode.cpu, (mode.perSecond * mode.cpu.wallMs) / 1000, "message")}`,
          cpu: mode.cpu,
        });
        result.metrics[`pgMode${index}PerSecond`] = mode.perSecond;
        result.metrics[`pgMode${index}LatencyP50`] = mode.latency.p50;
        result.metrics[`pgMode${index}LatencyP99`] = mode.latency.p99;
        result.metrics[`pgMode${index}PostgresCpuMsPerMessage`] = ((mode.cpu.postgres / 100) * 1000) / mode.perSecond;
      });
    } finally {
      await database.drop();
    }
    result.notes.push(
      "postgres.js runs in its own process; its CPU is in the generator column. It writes into the service's own schema (its drizzle migrations).",
    );
  } else {
    result.notes.push("the postgres.js baseline needs PostgreSQL; skipped on embedded PGlite");
  }
  return result;
}

/** Our figures over the baselines' ceilings. */
export function ratioFigures(results: ScenarioResult[]): Figure[] {
  const metric = (id: string, name: string) => results.find((result) => result.id === id)?.metrics[name];
  const accepted = metric("direct-hot", "saturationAcceptedPerSecond");
  const figures: Figure[] = [];
  if (accepted === undefined) return figures;
  const ratio = (label: string, ceiling: number | undefined, unit: string) => {
    if (ceiling)
      figures.push({
        label,
        value: `${(accepted / ceiling).toFixed(2)} (${formatRate(accepted, "msg")} ÷ ${formatRate(ceiling, unit)})`,
      });
  };
  ratio("accepted messages/s ÷ bare node:http requests/s", metric("baselines", "nodeRequestsPerSecond"), "req");
  ratio("accepted messages/s ÷ bare hono requests/s", metric("baselines", "honoRequestsPerSecond"), "req");
  ratio("accepted messages/s ÷ postgres.js single-insert messages/s", metric("baselines", "pgMode0PerSecond"), "msg");
  ratio(
    "accepted messages/s ÷ postgres.js one-transaction-per-message messages/s",
    metric("baselines", "pgMode1PerSecond"),
    "msg",
  );
  ratio("accepted messages/s ÷ postgres.js batched messages/s", metric("baselines", "pgMode2PerSecond"), "msg");
  // CPU per operation holds steadier than throughput when other processes share the cores.
  const cost = (label: string, ours: number | undefined, ceiling: number | undefined) => {
    if (ours && ceiling)
      figures.push({ label, value: `${(ours / ceiling).toFixed(1)}× (${ours.toFixed(3)} ms ÷ ${ceiling.toFixed(3)} ms)` });
  };
  const serverMs = metric("direct-hot", "saturationServerCpuMsPerMessage");
  const postgresMs = metric("direct-hot", "saturationPostgresCpuMsPerMessage");
  cost(
    "server CPU per accepted message ÷ bare hono server CPU per request",
    serverMs,
    metric("baselines", "honoServerCpuMsPerRequest"),
  );
  cost(
    "server CPU per accepted message ÷ bare node:http server CPU per request",
    serverMs,
    metric("baselines", "nodeServerCpuMsPerRequest"),
  );
  cost(
    "postgres CPU per accepted message ÷ postgres CPU per message, one transaction each",
    postgresMs,
    metric("baselines", "pgMode1PostgresCpuMsPerMessage"),
  );
  cost(
    "postgres CPU per accepted message ÷ postgres CPU per message, batched",
    postgresMs,
    metric("baselines", "pgMode2PostgresCpuMsPerMessage"),
  );
  return figures;
}
