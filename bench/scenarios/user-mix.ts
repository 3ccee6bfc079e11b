import { openStreams, type LoggedInUser } from "../load/chat-client.js";
import { waitUntil } from "../load/clock.js";
import type { SseStream } from "../load/sse-client.js";
import { cpuPerOperation, formatLatency, formatRate, type Figure, type LatencySummary } from "../report.js";
import { metricDelta, scrapeMetrics } from "../metrics-scrape.js";
import { CpuMeter } from "../resource-usage.js";
import { loginScenarioUsers, startScenarioServer, type BenchOptions, type ScenarioServer } from "./context.js";
import { MessageLedger, phaseFigures, type PhaseFigures } from "./message-ledger.js";
import { offerAtRate, saturate, Sender } from "./message-senders.js";

/** Each user writes to this many others in turn: a few conversations each, as people have. */
const CONTACTS_PER_USER = 8;
const DRAIN_TIMEOUT_MS = 20_000;

/**
 * Many users online at once, each with its own stream and its own keep-alive connection for
 * sending, as a browser or terminal client keeps one: every user both sends and receives, so
 * session checks and activity records grow with the users, not with a few hot senders.
 */
export type UserMix = {
  scenario: ScenarioServer;
  ledger: MessageLedger;
  senders: Sender[];
  /** Resolves once every message of `phase` was answered and, if accepted, arrived; false after the drain time. */
  drain(phase: string, timeoutMs?: number): Promise<boolean>;
  /** Closes streams and connections, stops the server and drops its database. */
  close(): Promise<void>;
};

/** The users `index` writes to, spread over everyone so each user also hears from as many. */
function contactsOf(users: readonly LoggedInUser[], index: number): LoggedInUser[] {
  const others = users.length - 1;
  const count = Math.min(CONTACTS_PER_USER, others);
  return Array.from({ length: count }, (_, j) => users[(index + 1 + Math.floor((j * others) / count)) % users.length]!);
}

/** Starts a server for `options.activeUsers` users, logs them in, opens their streams and warms up at a modest rate. */
export async function startUserMix(options: BenchOptions, scenarioId: string, tag: string): Promise<UserMix> {
  const scenario = await startScenarioServer(options, scenarioId, Math.max(2, options.activeUsers));
  const ledger = new MessageLedger(`${tag}${options.runId}`);
  let streams: SseStream[] = [];
  let senders: Sender[] = [];
  const close = async () => {
    for (const stream of streams) stream.close();
    for (const sender of senders) sender.close();
    await scenario.close();
  };
  const drain = (phase: string, timeoutMs = DRAIN_TIMEOUT_MS) => waitUntil(() => ledger.pending(phase) === 0, timeoutMs);
  try {
    const origin = scenario.server.origin;
    const users = await loginScenarioUsers(scenario, options);
    streams = await openStreams(origin, users, options.concurrency, ledger.streamHandlers());
    senders = users.map((user, index) => new Sender(index, user, origin, contactsOf(users, index), ledger, options.textBytes));
    options.log(`${scenarioId}: ${users.length} users online, each sending to ${contactsOf(users, 0).length} others in turn`);
    setPhase(senders, "warm-up");
    // Every user sends at least once (message i goes to user i mod n), so the measured phases find
    // each one's connection open and its session known: at 500/s for 1 s, half of 1,000 users made
    // their first request in the saturation phase and took 1 to 3 s, its whole p99.
    const warmUpMs = Math.min(1000, options.duration * 1000);
    await offerAtRate(senders, Math.max(500, Math.ceil((senders.length * 1000) / warmUpMs)), warmUpMs);
    await drain("warm-up");
  } catch (error) {
    await close();
    throw error;
  }
  return { scenario, ledger, senders, drain, close };
}

export function setPhase(senders: readonly Sender[], phase: string): void {
  for (const sender of senders) sender.phase = phase;
}

/** One measured load point: what was offered, what the server did, and what it cost. */
export type LoadPoint = {
  phase: string;
  /** Offered messages/s; undefined for the closed loop, which offers as fast as answers come. */
  offered: number | undefined;
  figures: PhaseFigures;
  delivery: LatencySummary;
  cpu: ReturnType<CpuMeter["stop"]>;
  /** Accepted messages per batch statement over the phase (the server's chat_message_batch_size). */
  messagesPerBatch: number | undefined;
  drained: boolean;
  /** When the open loop stopped offering because the server fell 1 s behind. */
  gaveUpAfterMs: number | undefined;
};

/**
 * Closed loop for `durationMs`: every user sends back to back; the accepted rate is the saturation.
 * `phase` names its messages in the ledger (a second measurement in one run needs a name of its own).
 */
export async function measureSaturation(mix: UserMix, durationMs: number, phase = "saturation"): Promise<LoadPoint> {
  setPhase(mix.senders, phase);
  const batches = await batchSizes(mix);
  const meter = new CpuMeter(mix.scenario.server.pid);
  const { startedAt } = await saturate(mix.senders, durationMs);
  const cpu = meter.stop();
  const drained = await mix.drain(phase);
  const messagesPerBatch = await batches.mean();
  const figures = phaseFigures(mix.ledger, phase, startedAt);
  return {
    phase,
    offered: undefined,
    figures,
    delivery: figures.deliveryLatency.summary(),
    cpu,
    messagesPerBatch,
    drained,
    gaveUpAfterMs: undefined,
  };
}

/** Open loop at `rate` messages/s for `durationMs`, spread over every user in turn. */
export async function measureOpenLoop(mix: UserMix, phase: string, rate: number, durationMs: number): Promise<LoadPoint> {
  setPhase(mix.senders, phase);
  const batches = await batchSizes(mix);
  const meter = new CpuMeter(mix.scenario.server.pid);
  const offer = await offerAtRate(mix.senders, rate, durationMs);
  const drained = await mix.drain(phase);
  const cpu = meter.stop();
  const messagesPerBatch = await batches.mean();
  const figures = phaseFigures(mix.ledger, phase, offer.startedAt);
  return {
    phase,
    offered: rate,
    figures,
    delivery: figures.deliveryLatency.summary(),
    cpu,
    messagesPerBatch,
    drained,
    gaveUpAfterMs: offer.gaveUpAt === undefined ? undefined : offer.gaveUpAt - offer.startedAt,
  };
}

/** The server's message batch sizes from now on: mean() scrapes /metrics again and averages what grew. */
async function batchSizes(mix: UserMix) {
  const origin = mix.scenario.server.origin;
  const before = await scrapeMetrics(origin);
  return {
    async mean() {
      const after = await scrapeMetrics(origin);
      const messages = metricDelta(before, after, "chat_message_batch_size_sum");
      const batches = metricDelta(before, after, "chat_message_batch_size_count");
      return messages === undefined || !batches ? undefined : messages / batches;
    },
  };
}

/** The report's lines for one load point, each with the CPU spent while it ran. */
export function loadPointFigures(label: string, point: LoadPoint): Figure[] {
  const { figures, cpu } = point;
  const offered =
    point.offered === undefined
      ? "closed loop: every user sends back to back"
      : `${formatRate(point.offered, "msg")}${point.gaveUpAfterMs === undefined ? "" : ` (server overloaded: stopped offering after ${(point.gaveUpAfterMs / 1000).toFixed(1)} s)`}`;
  return [
    { label: `${label}: offered`, value: offered, cpu },
    { label: `${label}: accepted (201)`, value: formatRate(figures.acceptedPerSecond, "msg"), cpu },
    { label: `${label}: send → delivery`, value: formatLatency(point.delivery), cpu },
    { label: `${label}: send → 201`, value: formatLatency(figures.ackLatency.summary()), cpu },
    { label: `${label}: CPU per accepted message`, value: cpuPerOperation(cpu, figures.accepted, "message"), cpu },
    ...(point.messagesPerBatch === undefined
      ? []
      : [{ label: `${label}: messages per batch statement`, value: point.messagesPerBatch.toFixed(1), cpu }]),
  ];
}
