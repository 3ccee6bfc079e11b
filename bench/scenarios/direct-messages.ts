import { readDatabaseActivity, withClient, type DatabaseActivity } from "../database.js";
import { openStreams, type LoggedInUser } from "../load/chat-client.js";
import { nowMs, sleep, waitUntil } from "../load/clock.js";
import {
  cpuMsPerOperation,
  cpuPerOperation,
  formatCount,
  formatLatency,
  formatMs,
  formatRate,
  type Check,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter } from "../resource-usage.js";
import { loginScenarioUsers, startScenarioServer, type BenchOptions, type ScenarioServer } from "./context.js";
import { DIRECT_MESSAGE_CHECKS, MessageLedger, phaseFigures } from "./message-ledger.js";
import { offerAtRate, saturate, Sender } from "./message-senders.js";

const DRAIN_TIMEOUT_MS = 20_000;

/**
 * Scenario 2b: a few hot senders, M of them, post to P online recipients, first at a fixed
 * offered rate (open loop), then at saturation (closed loop); every delivery is checked as it
 * arrives, and a kill mid-burst checks that every 201 came after its commit.
 */
export async function runDirectMessages(options: BenchOptions): Promise<ScenarioResult> {
  const { senders: senderCount, recipients: recipientCount, rate, duration } = options;
  const result = newScenarioResult("direct-hot", "2b. Direct messages: few hot senders", {
    senders: senderCount,
    recipients: recipientCount,
    "offered rate": `${rate}/s`,
    "phase length": `${duration} s`,
    "text bytes": options.textBytes,
  });
  const scenario = await startScenarioServer(options, "direct-hot", senderCount + recipientCount);
  let killed = false;
  try {
    const { server } = scenario;
    const origin = server.origin;
    const loggedIn = await loginScenarioUsers(scenario, options);
    const senderUsers = loggedIn.slice(0, senderCount);
    const recipients = loggedIn.slice(senderCount);
    const ledger = new MessageLedger(`dm${options.runId}`);
    const streams = await openStreams(origin, recipients, options.concurrency, ledger.streamHandlers());
    const senders = senderUsers.map((user, index) => new Sender(index, user, origin, recipients, ledger, options.textBytes));
    const drain = (phase: string) => waitUntil(() => ledger.undelivered(phase) === 0, DRAIN_TIMEOUT_MS);
    options.log(`direct messages: ${senderCount} senders, ${recipientCount} recipients online`);

    // Warm-up at a modest rate so the measured phases see compiled code and open pools.
    for (const sender of senders) sender.phase = "warm-up";
    await offerAtRate(senders, Math.min(rate, 500), Math.min(1000, duration * 1000));
    await drain("warm-up");

    // pg_stat_database lags by up to a second: let it settle around the fixed phase.
    const activity = async (): Promise<DatabaseActivity | undefined> => {
      if (!scenario.databaseUrl) return undefined;
      await sleep(1100);
      return readDatabaseActivity(scenario.databaseUrl);
    };
    const activityBefore = await activity();
    for (const sender of senders) sender.phase = "fixed";
    let meter = new CpuMeter(server.pid);
    const fixed = await offerAtRate(senders, rate, duration * 1000);
    const fixedDrained = await drain("fixed");
    const fixedCpu = meter.stop();
    const fixedFigures = phaseFigures(ledger, "fixed", fixed.startedAt);
    if (fixed.gaveUpAt !== undefined) {
      result.notes.push(
        `the server fell more than 1 s of offered load behind ${formatMs(fixed.gaveUpAt - fixed.startedAt)} into the fixed-rate phase, so the generator stopped offering there (${formatCount(fixed.planned)} of ${formatCount(rate * duration)} messages offered); its latencies are those of an overloaded server.`,
      );
    }
    options.log(
      `  fixed ${rate}/s: accepted ${fixedFigures.acceptedPerSecond.toFixed(0)}/s, delivery ${formatLatency(fixedFigures.deliveryLatency.summary())}`,
    );

    const activityAfter = await activity();
    await sleep(500);
    for (const sender of senders) sender.phase = "saturation";
    meter = new CpuMeter(server.pid);
    const saturation = await saturate(senders, duration * 1000);
    const saturationCpu = meter.stop();
    const saturationDrained = await drain("saturation");
    const saturationFigures = phaseFigures(ledger, "saturation", saturation.startedAt);
    options.log(
      `  saturation: accepted ${saturationFigures.acceptedPerSecond.toFixed(0)}/s, delivery ${formatLatency(saturationFigures.deliveryLatency.summary())}`,
    );

    for (const stream of streams) stream.close();
    for (const sender of senders) sender.close();
    ledger.verifyComplete();

    const fixedDelivery = fixedFigures.deliveryLatency.summary();
    result.figures.push(
      {
        label: `fixed rate: offered`,
        value: `${formatRate(rate, "msg")} for ${duration} s (${formatCount(fixedFigures.offered)} messages${fixed.gaveUpAt === undefined ? "" : `; stopped after ${formatMs(fixed.gaveUpAt - fixed.startedAt)}, server overloaded`})`,
        cpu: fixedCpu,
      },
      { label: "fixed rate: accepted (201)", value: formatRate(fixedFigures.acceptedPerSecond, "msg"), cpu: fixedCpu },
      { label: "fixed rate: delivered events", value: formatRate(fixedFigures.deliveredPerSecond, "event"), cpu: fixedCpu },
      { label: "fixed rate: send → delivery (open loop)", value: formatLatency(fixedDelivery), cpu: fixedCpu },
      { label: "fixed rate: send → 201 (open loop)", value: formatLatency(fixedFigures.ackLatency.summary()), cpu: fixedCpu },
      {
        label: "fixed rate: CPU per accepted message",
        value: cpuPerOperation(fixedCpu, fixedFigures.accepted, "message"),
        cpu: fixedCpu,
      },
      { label: "saturation: accepted (201)", value: formatRate(saturationFigures.acceptedPerSecond, "msg"), cpu: saturationCpu },
      {
        label: "saturation: delivered events",
        value: formatRate(saturationFigures.deliveredPerSecond, "event"),
        cpu: saturationCpu,
      },
      {
        label: "saturation: send → delivery (closed loop)",
        value: formatLatency(saturationFigures.deliveryLatency.summary()),
        cpu: saturationCpu,
      },
      {
        label: "saturation: send → 201 (closed loop)",
        value: formatLatency(saturationFigures.ackLatency.summary()),
        cpu: saturationCpu,
      },
      // The saturation meter stops when sending does; messages answered after that are few (one per sender).
      {
        label: "saturation: CPU per accepted message",
        value: cpuPerOperation(saturationCpu, saturationFigures.accepted, "message"),
        cpu: saturationCpu,
      },
    );
    if (activityBefore && activityAfter && fixedFigures.accepted > 0) {
      // Each activity read is one autocommit select of its own.
      const per = (key: keyof DatabaseActivity, own = 0) =>
        ((activityAfter[key] - activityBefore[key] - own) / fixedFigures.accepted).toFixed(1);
      result.figures.push({
        label: "fixed rate: PostgreSQL work per accepted message",
        value: `${per("commits", 1)} commits, ${per("rollbacks")} rollbacks, ${per("inserted")} rows inserted, ${per("updated")} updated, ${per("fetched")} fetched, ${per("returned")} scanned (pg_stat_database)`,
      });
    }
    const saturationMsPerMessage = (share: number) =>
      cpuMsPerOperation(saturationCpu, share, Math.max(1, saturationFigures.accepted));
    result.metrics = {
      fixedAcceptedPerSecond: fixedFigures.acceptedPerSecond,
      fixedDeliveryP50: fixedDelivery.p50,
      fixedDeliveryP99: fixedDelivery.p99,
      saturationAcceptedPerSecond: saturationFigures.acceptedPerSecond,
      saturationDeliveredPerSecond: saturationFigures.deliveredPerSecond,
      saturationDeliveryP50: saturationFigures.deliveryLatency.summary().p50,
      saturationDeliveryP99: saturationFigures.deliveryLatency.summary().p99,
      saturationAckP50: saturationFigures.ackLatency.summary().p50,
      saturationGeneratorCpu: saturationCpu.generator,
      saturationServerCpuMsPerMessage: saturationMsPerMessage(saturationCpu.server),
      saturationPostgresCpuMsPerMessage: saturationMsPerMessage(saturationCpu.postgres),
      saturationServerCpu: saturationCpu.server,
    };
    result.checks.push(
      {
        name: "every accepted message delivered within the drain time",
        ok: fixedDrained && saturationDrained,
        detail:
          fixedDrained && saturationDrained ? "" : `${ledger.undelivered()} still undelivered after ${DRAIN_TIMEOUT_MS / 1000} s`,
      },
      ...ledger.violations.checks(DIRECT_MESSAGE_CHECKS),
    );
    result.targets.push(
      {
        name: "at least 5,000 messages/s accepted",
        ok: saturationFigures.acceptedPerSecond >= 5000,
        detail: formatRate(saturationFigures.acceptedPerSecond, "msg"),
      },
      {
        name: `p99 delivery under 50 ms at ${rate} messages/s offered (target is stated for 2,000/s)`,
        ok: fixedDelivery.p99 < 50,
        detail: formatMs(fixedDelivery.p99),
      },
    );

    if (scenario.databaseUrl && !options.cpuProfileDir) {
      result.checks.push(await checkCommittedBefore201(options, scenario, senderUsers, recipients));
      killed = true;
    } else {
      result.notes.push(
        scenario.databaseUrl
          ? "the kill test (committed before 201) is skipped while profiling, since a killed server writes no profile"
          : "the kill test (committed before 201) needs PostgreSQL; skipped on embedded PGlite",
      );
    }
  } finally {
    await scenario.close();
  }
  if (killed)
    result.notes.push("the kill test SIGKILLs the server mid-burst and looks up every acknowledged message in the database");
  return result;
}

/**
 * Sends at saturation, SIGKILLs the server mid-burst, then looks every 201-acknowledged
 * message up in the database: a 201 sent before the commit would show up missing.
 */
async function checkCommittedBefore201(
  options: BenchOptions,
  scenario: ScenarioServer,
  senderUsers: LoggedInUser[],
  recipients: LoggedInUser[],
): Promise<Check> {
  const ledger = new MessageLedger(`kill${options.runId}`);
  const senders = senderUsers.map(
    (user, index) => new Sender(index, user, scenario.server.origin, recipients, ledger, options.textBytes),
  );
  for (const sender of senders) sender.phase = "kill";
  const burst = saturate(senders, 15_000);
  // Kill once a few hundred milliseconds of acknowledgements have piled up, with more in flight.
  const startedAt = nowMs();
  const acknowledged = () => {
    let count = 0;
    for (const record of ledger.records.values()) if (record.status === 201) count++;
    return count;
  };
  await waitUntil(() => nowMs() - startedAt >= 400 && acknowledged() >= senders.length, 10_000, 5);
  await scenario.server.kill();
  await burst;
  for (const sender of senders) sender.close();
  const acknowledgedRecords = [...ledger.records.values()].filter((record) => record.status === 201);
  const ids = acknowledgedRecords.map((record) => record.id!);
  const found = await withClient(scenario.databaseUrl!, async (sql) => {
    const rows = await sql<{ id: string; text: string }[]>`select id::text, text from messages where id = any(${ids}::bigint[])`;
    return new Map(rows.map((row) => [Number(row.id), row.text]));
  });
  const missing = acknowledgedRecords.filter(
    (record) => !found.get(record.id!)?.startsWith(`${ledger.tag} s${record.sender} n${record.seq} `),
  );
  return {
    name: "every 201 was committed before it was sent (SIGKILL mid-burst, then look each acknowledged message up)",
    ok: missing.length === 0 && acknowledgedRecords.length > 0,
    detail:
      acknowledgedRecords.length === 0
        ? "no message was acknowledged before the kill"
        : `${formatCount(acknowledgedRecords.length)} acknowledged, ${missing.length} missing${missing.length ? `, e.g. id ${missing[0]!.id}` : ""}`,
  };
}
