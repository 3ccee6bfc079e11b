/**
 * npm run fuzz -- [--requests N] [--seed S] [--database-url URL] [--concurrency C] [--batch B] [--json FILE]
 *
 * Starts the service on a fresh PostgreSQL database and throws random and malformed requests at
 * every route of its OpenAPI document; exits 1 on any 5xx, state change by a refused request,
 * secret in the logs, or a server that is not alive afterwards.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCampaign, type CampaignReport } from "../test/fuzz/campaign/campaign.js";

const USAGE = `usage: npm run fuzz -- [options]
  --requests <n>        requests to send (default 10000)
  --seed <s>            fast-check seed; the same seed sends the same requests (default: random, printed)
  --database-url <url>  PostgreSQL server the campaign may create a database on (default $DATABASE_URL or
                        postgres://postgres@127.0.0.1:5432/postgres); the database is dropped afterwards
  --concurrency <c>     requests in flight at once (default 8)
  --batch <b>           requests between two readings of the database digest (default 4 x concurrency)
  --json <file>         also write the report as JSON`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

function parse() {
  const { values } = parseArgs({
    options: {
      requests: { type: "string" },
      seed: { type: "string" },
      "database-url": { type: "string" },
      concurrency: { type: "string" },
      batch: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const concurrency = positive("concurrency", values.concurrency, 8);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error("--seed must be a whole number");
  return {
    requests: positive("requests", values.requests, 10_000),
    seed,
    adminUrl: values["database-url"] ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    concurrency,
    batchSize: positive("batch", values.batch, 4 * concurrency),
    json: values.json,
  };
}

const table = (rows: [string, ...(string | number)[]][]) => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => String(row[column] ?? "").length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => String(cell).padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
};

function print(report: CampaignReport) {
  const statuses = Object.keys(report.byStatus).sort();
  console.log(
    `\nseed ${report.seed}: ${report.requests} requests in ${report.seconds.toFixed(1)} s (${(report.requests / report.seconds).toFixed(0)}/s), concurrency ${report.concurrency}, digest every ${report.batchSize}`,
  );
  console.log(
    `\nby status\n${table([["status", "requests"], ...statuses.map((status): [string, number] => [status, report.byStatus[status]!])])}`,
  );
  const codes = Object.entries(report.byCode).sort(([, a], [, b]) => b - a);
  console.log(`\nby problem code\n${table([["code", "requests"], ...codes])}`);
  const routes = Object.keys(report.byRoute).sort();
  console.log(
    `\nby route (the operation each request was made from)\n${table([
      ["route", ...statuses],
      ...routes.map((route): [string, ...number[]] => [route, ...statuses.map((status) => report.byRoute[route]![status] ?? 0)]),
    ])}`,
  );
  const { refusals } = report;
  console.log(
    `\nrefused: ${refusals.total}; digest unchanged around ${refusals.verified}; ${refusals.byDesign} change state by design ` +
      `(wrong password: invalid_credentials with attemptsLeft, account_locked); ${refusals.inMixedBatches} shared a batch with a success that changed state`,
  );
  console.log(
    `no verdict from the app (connection closed, or Node's parser refused bytes after a well-formed head): ${report.uncertain}`,
  );
  console.log(`event streams opened and closed: ${report.streamsOpened}`);
  console.log(`tables digested: ${report.digestTables.join(", ")} (${report.digestSeconds.toFixed(1)} s reading digests)`);
  console.log(
    `alive afterwards: GET /health ${report.alive.health ? "200" : "FAILED"}, login + message + event ${report.alive.loginMessageEvent ? "ok" : "FAILED"}, SIGTERM ${report.alive.stoppedCleanly ? "exit 0" : "FAILED"}`,
  );
  if (report.violations.length === 0) {
    console.log("\nPASS: no 5xx, no state change on a refused request, no secret in the logs, alive afterwards");
    return;
  }
  const byKind = new Map<string, typeof report.violations>();
  for (const violation of report.violations) byKind.set(violation.kind, [...(byKind.get(violation.kind) ?? []), violation]);
  console.log(
    `\nFAIL: ${report.violations.length} violations (replay: npm run fuzz -- --seed ${report.seed} --requests N; request # is its place in the run)`,
  );
  for (const [kind, list] of byKind) {
    console.log(`\n${kind}: ${list.length}`);
    for (const violation of list.slice(0, 5)) {
      console.log(`  ${violation.detail}`);
      for (const replay of violation.replay?.slice(0, 8) ?? []) {
        console.log(`    #${replay.index} ${replay.label} -> ${replay.outcome}\n      ${replay.request}`);
      }
    }
  }
}

const options = parse();
console.log(`fuzz campaign: ${options.requests} requests, seed ${options.seed}, concurrency ${options.concurrency}`);
// Ctrl+C stops sending and still prints the report of what was sent.
const interrupted = new AbortController();
process.once("SIGINT", () => interrupted.abort());
const report = await runCampaign({ ...options, progress: (line) => console.log(line), signal: interrupted.signal });
if (interrupted.signal.aborted)
  console.log(`
stopped early (SIGINT) after ${report.requests} requests`);
print(report);
if (options.json) writeFileSync(options.json, JSON.stringify(report, null, 2));
process.exit(report.violations.length === 0 ? 0 : 1);
