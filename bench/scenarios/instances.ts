import { rmSync } from "node:fs";
import { join } from "node:path";
import { createScratchDatabase, type ScratchDatabase } from "../database.js";
import { openStreams, warmUp, type LoggedInUser } from "../load/chat-client.js";
import { sleep, waitUntil } from "../load/clock.js";
import type { SseStream } from "../load/sse-client.js";
import { metricDelta, scrapeMetrics } from "../metrics-scrape.js";
import { startNatsServer, type NatsServer } from "../nats-server.js";
import {
  cpuMsPerOperation,
  formatCount,
  formatMs,
  formatRate,
  type Check,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter, type CpuShare } from "../resource-usage.js";
import {
  benchUsers,
  startChatServer,
  writeCredentials,
  type BenchUserCredentials,
  type ServerProcess,
} from "../server-process.js";
import { loginUsers, type BenchOptions } from "./context.js";
import { DIRECT_MESSAGE_CHECKS, MessageLedger, phaseFigures } from "./message-ledger.js";
import { offerAtRate, saturate, Sender } from "./message-senders.js";

/** How the instances of one cluster tell each other about new events. */
export type Bus = "nats" | "postgres";
export const BUSES: readonly Bus[] = ["nats", "postgres"];

const DRAIN_TIMEOUT_MS = 20_000;
/** Notices for streams on other instances may land a moment after the last delivery the generator saw. */
const SETTLE_MS = 500;

/** Several chat servers on one fresh database, and for NATS a nats-server of their own. */
type Cluster = {
  bus: Bus;
  servers: ServerProcess[];
  /** Per instance: the users who log in there (senders first), disjoint across instances. */
  homes: { senders: BenchUserCredentials[]; recipients: BenchUserCredentials[] }[];
  close(): Promise<void>;
};

/** What one bus at one instance count measured. */
type Row = {
  bus: Bus;
  instances: number;
  offeredPerSecond: number;
  acceptedPerSecond: number;
  accepted: number;
  delivered: number;
  deliveryP50: number;
  deliveryP99: number;
  saturationAcceptedPerSecond: number;
  /** Per instance, over the fixed-rate phase: bus notices received (every kind). */
  noticesReceived: (number | undefined)[];
  /** Per instance: reads of the event log by live streams, and messages written to its streams. */
  logReads: (number | undefined)[];
  deliveredHere: number[];
  cpu: CpuShare;
  gaveUp: boolean;
};

/**
 * Scenario 6: the same per-instance load on 1, 2, 4… instances sharing one database, with the
 * instances told of new events over NATS or over PostgreSQL LISTEN/NOTIFY. Users are spread
 * across the instances (each logs in, streams and sends on its own), and every sender writes
 * to recipients on another instance than its own, so each delivery crosses the bus. Besides
 * throughput and latency it reports what each instance had to do: the notices it received and
 * the log reads per message its streams delivered, scraped from each instance's /metrics.
 */
export async function runInstances(options: BenchOptions): Promise<ScenarioResult> {
  const { senders, recipients, instanceRate, duration } = options;
  const result: ScenarioResult = {
    ...newScenarioResult("instances", "6. Several instances: NATS or LISTEN/NOTIFY", {
      buses: options.buses.join(", "),
      instances: options.instanceCounts.join(", "),
      "senders per instance": senders,
      "recipients per instance": recipients,
      "offered rate per instance": `${instanceRate}/s`,
      "phase length": `${duration} s`,
      "text bytes": options.textBytes,
    }),
    tables: [],
  };
  if (!options.databaseUrl) {
    result.checks.push({
      name: "several instances need PostgreSQL",
      ok: false,
      detail: "set DATABASE_URL or --database-url (embedded PGlite serves one instance)",
    });
    return result;
  }
  const rows: Row[] = [];
  for (const bus of options.buses) {
    for (const count of options.instanceCounts) {
      options.log(`instances: ${count} over ${bus}`);
      try {
        const { row, checks } = await measureCluster(options, bus, count);
        rows.push(row);
        result.checks.push(...checks.map((check) => ({ ...check, name: `${bus} × ${count}: ${check.name}` })));
        options.log(
          `  accepted ${row.acceptedPerSecond.toFixed(0)}/s, delivery p50 ${formatMs(row.deliveryP50)} p99 ${formatMs(row.deliveryP99)}, notices per instance ${row.noticesReceived.map((value) => (value === undefined ? "–" : formatCount(value))).join(" · ")}`,
        );
      } catch (error) {
        result.checks.push({
          name: `${bus} × ${count}: ran to completion`,
          ok: false,
          detail: (error as Error).stack ?? String(error),
        });
      }
    }
  }
  result.tables!.push(summaryTable(rows, duration));
  for (const row of rows) {
    const key = `${row.bus}${row.instances}`;
    const perInstance = perInstanceFigures(row);
    result.metrics[`${key}Accepted`] = row.accepted;
    result.metrics[`${key}Delivered`] = row.delivered;
    result.metrics[`${key}AcceptedPerSecond`] = row.acceptedPerSecond;
    result.metrics[`${key}DeliveryP50`] = row.deliveryP50;
    result.metrics[`${key}DeliveryP99`] = row.deliveryP99;
    result.metrics[`${key}NoticesPerInstance`] = perInstance.noticesMean;
    result.metrics[`${key}NoticesPerInstancePerMessage`] = perInstance.noticesPerMessage;
    result.metrics[`${key}LogReadsPerDelivered`] = perInstance.readsPerDelivered;
  }
  result.notes.push(
    "the load is per instance: senders, recipients and offered rate grow with the instance count, so a bus that routes by interest keeps each instance's notices flat while one that tells every instance everything grows them with the count",
    "notices: `chat_bus_received_total` (every kind) grown over the fixed-rate phase on each instance; per message: the mean instance's notices divided by the messages one instance's users sent (cluster accepted ÷ instances)",
    'log reads per delivered message: `chat_event_log_reads_total` ÷ `chat_events_delivered_total{type="message"}`, each instance\'s own, over the fixed-rate phase',
    "with one instance every recipient is on the sender's instance; from two on, every message goes to a recipient on another instance",
    "server CPU is every instance's together; nats-server's own CPU counts under other in the CPU columns of the other scenarios, and is not shown here",
  );
  return result;
}

async function startCluster(options: BenchOptions, bus: Bus, count: number): Promise<Cluster> {
  const id = `instances-${bus}-${count}`;
  const directory = join(options.workDir, id);
  const perInstance = options.senders + options.recipients;
  const users = benchUsers(count * perInstance);
  const warmUpUsers = benchUsers(2 * count, "warmup");
  const credentialsFile = writeCredentials(directory, [...users, ...warmUpUsers]);
  const homes = Array.from({ length: count }, (_, instance) => {
    const mine = users.slice(instance * perInstance, (instance + 1) * perInstance);
    return { senders: mine.slice(0, options.senders), recipients: mine.slice(options.senders) };
  });
  const servers: ServerProcess[] = [];
  let database: ScratchDatabase | undefined;
  let nats: NatsServer | undefined;
  const close = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await nats?.stop();
    await database?.drop();
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    database = await createScratchDatabase(options.databaseUrl!, `bench_${options.runId}_${id.replaceAll("-", "_")}`);
    if (bus === "nats") nats = await startNatsServer(options.natsPort);
    const start = () =>
      startChatServer({
        credentialsFile,
        databaseUrl: database!.url,
        dataDir: join(directory, "data"),
        nodeOptions: options.nodeOptions,
        extraArgs: nats ? ["--nats-url", nats.url] : [],
      });
    // The first one migrates the database and loads the credentials; the rest find them done.
    servers.push(await start());
    servers.push(...(await Promise.all(Array.from({ length: count - 1 }, start))));
    await Promise.all(
      servers.map((server, index) => warmUp(server.origin, warmUpUsers[2 * index]!, warmUpUsers[2 * index + 1]!)),
    );
  } catch (error) {
    const output = servers.map((server) => server.recentOutput()).join("\n");
    await close();
    throw new Error(`${(error as Error).message}\nserver output:\n${output}`, { cause: error });
  }
  return { bus, servers, homes, close };
}

async function measureCluster(options: BenchOptions, bus: Bus, count: number): Promise<{ row: Row; checks: Check[] }> {
  const cluster = await startCluster(options, bus, count);
  const streams: SseStream[] = [];
  const senders: Sender[] = [];
  try {
    const ledger = new MessageLedger(`in${options.runId}${bus}${count}`);
    // Global user indexes keep ledger keys and sender numbers unique across instances.
    const loggedIn = await Promise.all(
      cluster.servers.map(async (server, instance) => {
        const home = cluster.homes[instance]!;
        const users = await loginUsers(server.origin, [...home.senders, ...home.recipients], options);
        return { senders: users.slice(0, home.senders.length), recipients: users.slice(home.senders.length) };
      }),
    );
    for (const [instance, server] of cluster.servers.entries()) {
      streams.push(
        ...(await openStreams(server.origin, loggedIn[instance]!.recipients, options.concurrency, ledger.streamHandlers())),
      );
    }
    for (const [instance, server] of cluster.servers.entries()) {
      const elsewhere: LoggedInUser[] =
        count === 1 ? loggedIn[0]!.recipients : loggedIn.flatMap((home, other) => (other === instance ? [] : home.recipients));
      for (const user of loggedIn[instance]!.senders) {
        senders.push(new Sender(senders.length, user, server.origin, elsewhere, ledger, options.textBytes));
      }
    }
    const drain = (phase: string) => waitUntil(() => ledger.undelivered(phase) === 0, DRAIN_TIMEOUT_MS);
    const totalRate = options.instanceRate * count;

    for (const sender of senders) sender.phase = "warm-up";
    await offerAtRate(senders, Math.min(totalRate, 200), 1000);
    const warmedUp = await drain("warm-up");
    await sleep(SETTLE_MS);

    const scrapeAll = () => Promise.all(cluster.servers.map((server) => scrapeMetrics(server.origin)));
    const before = await scrapeAll();
    for (const sender of senders) sender.phase = "fixed";
    const meter = new CpuMeter(cluster.servers.map((server) => server.pid));
    const fixed = await offerAtRate(senders, totalRate, options.duration * 1000);
    const fixedDrained = await drain("fixed");
    const cpu = meter.stop();
    await sleep(SETTLE_MS);
    const after = await scrapeAll();
    const figures = phaseFigures(ledger, "fixed", fixed.startedAt);

    for (const sender of senders) sender.phase = "saturation";
    const saturation = await saturate(senders, options.duration * 1000);
    const saturationDrained = await drain("saturation");
    const saturationFigures = phaseFigures(ledger, "saturation", saturation.startedAt);

    for (const stream of streams) stream.close();
    ledger.verifyComplete();

    const delta = (name: string, labels = "") =>
      cluster.servers.map((_, instance) => metricDelta(before[instance]!, after[instance]!, name, labels));
    const deliveredHere = delta("chat_events_delivered_total", 'type="message"').map((value) => value ?? 0);
    const row: Row = {
      bus,
      instances: count,
      offeredPerSecond: totalRate,
      acceptedPerSecond: figures.acceptedPerSecond,
      accepted: figures.accepted,
      delivered: figures.delivered,
      deliveryP50: figures.deliveryLatency.percentile(50),
      deliveryP99: figures.deliveryLatency.percentile(99),
      saturationAcceptedPerSecond: saturationFigures.acceptedPerSecond,
      noticesReceived: delta("chat_bus_received_total"),
      logReads: delta("chat_event_log_reads_total"),
      deliveredHere,
      cpu,
      gaveUp: fixed.gaveUpAt !== undefined,
    };
    const checks: Check[] = [
      {
        name: "every accepted message delivered within the drain time",
        ok: warmedUp && fixedDrained && saturationDrained,
        detail: warmedUp && fixedDrained && saturationDrained ? "" : `${ledger.undelivered()} still undelivered`,
      },
      ...ledger.violations.checks(DIRECT_MESSAGE_CHECKS),
      {
        name: "every instance's /metrics counts bus notices and log reads",
        ok: row.noticesReceived.every((value) => value !== undefined) && row.logReads.every((value) => value !== undefined),
        detail: "chat_bus_received_total or chat_event_log_reads_total missing",
      },
      {
        name: "the instances' own delivery counts add up to the messages delivered",
        ok: deliveredHere.reduce((sum, value) => sum + value, 0) === figures.delivered,
        detail: `${deliveredHere.join(" + ")} ≠ ${figures.delivered}`,
      },
    ];
    return { row, checks: checks.map((check) => (check.ok ? { ...check, detail: "" } : check)) };
  } finally {
    for (const sender of senders) sender.close();
    for (const stream of streams) stream.close();
    await cluster.close();
  }
}

function perInstanceFigures(row: Row) {
  const known = row.noticesReceived.filter((value): value is number => value !== undefined);
  const noticesMean = known.length > 0 ? known.reduce((sum, value) => sum + value, 0) / known.length : Number.NaN;
  const readsPerInstance = row.logReads.map((reads, instance) =>
    reads === undefined || row.deliveredHere[instance] === 0 ? Number.NaN : reads / row.deliveredHere[instance]!,
  );
  const totalReads = row.logReads.reduce<number>((sum, value) => sum + (value ?? Number.NaN), 0);
  const totalDelivered = row.deliveredHere.reduce((sum, value) => sum + value, 0);
  return {
    noticesMean,
    noticesPerMessage: noticesMean / (row.accepted / row.instances),
    readsPerInstance,
    readsPerDelivered: totalDelivered > 0 ? totalReads / totalDelivered : Number.NaN,
  };
}

function summaryTable(rows: Row[], duration: number) {
  const number = (value: number | undefined, digits = 2) =>
    value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
  return {
    caption: `Per bus and instance count (fixed-rate phase of ${duration} s unless marked saturation):`,
    headers: [
      "bus",
      "instances",
      "offered",
      "accepted",
      "send → delivery p50 / p99",
      "accepted at saturation",
      "notices received, each instance",
      "notices per instance per message",
      "log reads per delivered message, each instance",
      "server CPU per message",
    ],
    rows: rows.map((row) => {
      const perInstance = perInstanceFigures(row);
      const serverMs = cpuMsPerOperation(row.cpu, row.cpu.server, Math.max(1, row.accepted));
      return [
        row.bus,
        String(row.instances),
        formatRate(row.offeredPerSecond, "msg"),
        formatRate(row.acceptedPerSecond, "msg") + (row.gaveUp ? " (overloaded: generator stopped offering)" : ""),
        `${formatMs(row.deliveryP50)} / ${formatMs(row.deliveryP99)}${row.instances === 1 ? " (same instance)" : ""}`,
        formatRate(row.saturationAcceptedPerSecond, "msg"),
        row.noticesReceived.map((value) => (value === undefined ? "–" : formatCount(value))).join(" · "),
        number(perInstance.noticesPerMessage),
        perInstance.readsPerInstance.map((value) => number(value)).join(" · "),
        `${serverMs.toFixed(2)} ms`,
      ];
    }),
  };
}
