import { openStreams } from "../load/chat-client.js";
import { nowMs, sleep, waitUntil } from "../load/clock.js";
import type { SseStream } from "../load/sse-client.js";
import { formatCount, formatLatency, formatMs, formatRate, newScenarioResult, type ScenarioResult } from "../report.js";
import { CpuMeter } from "../resource-usage.js";
import { loginScenarioUsers, startScenarioServer, type BenchOptions } from "./context.js";
import { MessageLedger, phaseFigures } from "./message-ledger.js";
import { offerAtRate, Sender } from "./message-senders.js";

const CATCH_UP_TIMEOUT_MS = 60_000;

/**
 * Scenario 4: messages flow to N online users; a third of the way in, every stream is
 * dropped and reopened with Last-Event-ID. Nothing may be lost or delivered twice.
 */
export async function runReconnectStorm(options: BenchOptions): Promise<ScenarioResult> {
  const n = options.users;
  const senderCount = Math.min(options.senders, n);
  const rate = options.stormRate;
  const durationMs = Math.max(2, options.duration * 2) * 1000;
  const result = newScenarioResult("reconnect-storm", "4. Reconnect storm", {
    streams: n,
    senders: senderCount,
    "offered rate": `${rate}/s`,
    "traffic length": `${durationMs / 1000} s`,
    "reconnects in flight": options.concurrency * 4,
  });
  const scenario = await startScenarioServer(options, "reconnect-storm", n + senderCount);
  const ledger = new MessageLedger(`rs${options.runId}`);
  let streams: SseStream[] = [];
  try {
    const { server } = scenario;
    const origin = server.origin;
    const loggedIn = await loginScenarioUsers(scenario, options);
    const recipients = loggedIn.slice(0, n);
    const senderUsers = loggedIn.slice(n);
    const handlers = ledger.streamHandlers();
    streams = await openStreams(origin, recipients, options.concurrency, handlers);
    const senders = senderUsers.map((user, index) => new Sender(index, user, origin, recipients, ledger, options.textBytes));
    for (const sender of senders) sender.phase = "storm";
    options.log(`reconnect storm: ${n} streams open, sending ${rate}/s`);

    const meter = new CpuMeter(server.pid);
    const traffic = offerAtRate(senders, rate, durationMs);
    await sleep(durationMs / 3);

    const droppedAt = nowMs();
    for (const stream of streams) stream.close();
    const ackedBeforeDrop = [...ledger.records.values()].filter((record) => record.status === 201 && record.ackAt <= droppedAt);
    const deliveredBeforeDrop = ackedBeforeDrop.filter((record) => record.deliveries > 0).length;
    streams = await openStreams(origin, recipients, options.concurrency * 4, {
      ...handlers,
      lastEventId: (user) => ledger.resumePoint(user.username),
    });
    const reopenedAt = streams.reduce((latest, stream) => Math.max(latest, stream.openedAt), droppedAt);
    const caughtUp = await waitUntil(() => ackedBeforeDrop.every((record) => record.deliveries > 0), CATCH_UP_TIMEOUT_MS, 5);
    const caughtUpAt = caughtUp
      ? ackedBeforeDrop.reduce((latest, record) => Math.max(latest, record.deliveredAt), reopenedAt)
      : Number.NaN;
    options.log(
      `  all ${n} streams reopened after ${formatMs(reopenedAt - droppedAt)}, caught up after ${formatMs(caughtUpAt - droppedAt)}`,
    );

    const { startedAt, gaveUpAt, planned } = await traffic;
    if (gaveUpAt !== undefined) {
      result.notes.push(
        `the server fell more than 1 s of offered load behind, so the generator stopped offering after ${formatMs(gaveUpAt - startedAt)} (${formatCount(planned)} messages).`,
      );
    }
    const drained = await waitUntil(() => ledger.undelivered() === 0, CATCH_UP_TIMEOUT_MS);
    const cpu = meter.stop();
    for (const stream of streams) stream.close();
    for (const sender of senders) sender.close();
    ledger.verifyComplete();

    const figures = phaseFigures(ledger, "storm", startedAt);
    const replayed = ackedBeforeDrop.length - deliveredBeforeDrop;
    result.figures.push(
      { label: `time to reopen all ${formatCount(n)} streams with Last-Event-ID`, value: formatMs(reopenedAt - droppedAt), cpu },
      { label: "time until every message accepted before the drop was delivered", value: formatMs(caughtUpAt - droppedAt), cpu },
      { label: "messages accepted before the drop but delivered after it (replayed or in flight)", value: formatCount(replayed) },
      {
        label: "messages during the run: offered / accepted / delivered",
        value: `${formatCount(figures.offered)} / ${formatCount(figures.accepted)} / ${formatCount(figures.delivered)}`,
        cpu,
      },
      { label: "accepted rate", value: formatRate(figures.acceptedPerSecond, "msg"), cpu },
      { label: "send → delivery across the storm (open loop)", value: formatLatency(figures.deliveryLatency.summary()), cpu },
    );
    result.metrics = { reopenMs: reopenedAt - droppedAt, caughtUpMs: caughtUpAt - droppedAt, replayed };
    result.checks.push(
      {
        name: "every stream caught up after the reconnect",
        ok: caughtUp,
        detail: caughtUp
          ? ""
          : `${ackedBeforeDrop.filter((record) => record.deliveries === 0).length} messages missing after ${CATCH_UP_TIMEOUT_MS / 1000} s`,
      },
      { name: "all traffic drained", ok: drained, detail: drained ? "" : `${ledger.undelivered()} undelivered` },
      ...ledger.violations.checks({
        "post-failed": "every POST /messages answered 201",
        lost: "zero lost events",
        duplicate: "zero duplicated events",
        "wrong-user": "every message reached its recipient and no one else",
        order: "each sender's messages arrive in the order sent, across the reconnect",
        "id-order": "event ids increase on every stream, across the reconnect",
        "id-mismatch": "the delivered event carries the id the 201 returned",
        "stream-closed": "no stream was cut off by the server",
      }),
    );
  } finally {
    for (const stream of streams) stream.close();
    await scenario.close();
  }
  return result;
}
