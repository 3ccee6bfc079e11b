import { forEachConcurrently, openStreams, type LoggedInUser } from "../load/chat-client.js";
import { nowMs, sleep, waitUntil } from "../load/clock.js";
import { HttpConnection } from "../load/http-client.js";
import { openStream, type SseEvent, type SseStream } from "../load/sse-client.js";
import {
  cpuPerOperation,
  formatCount,
  formatLatency,
  formatMs,
  Samples,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter, type CpuShare } from "../resource-usage.js";
import { ServerProcess } from "../server-process.js";
import { loginScenarioUsers, startScenarioServer, Violations, type BenchOptions } from "./context.js";

const DELIVERY_TIMEOUT_MS = 30_000;

/** Scenario 3: one user broadcasts to K online users, B times in a row; each must reach all K once. */
export async function runBroadcastFanout(options: BenchOptions): Promise<ScenarioResult> {
  const k = options.fanout;
  const rounds = options.broadcasts;
  const result = newScenarioResult("broadcast-fanout", "3. Broadcast fan-out", { recipients: k, broadcasts: rounds });
  const scenario = await startScenarioServer(options, "broadcast-fanout", k + 1);
  const violations = new Violations();
  try {
    const { server } = scenario;
    const origin = server.origin;
    const loggedIn = await loginScenarioUsers(scenario, options);
    const sender = loggedIn[k]!;
    const recipients = loggedIn.slice(0, k);
    const tag = `bc${options.runId}`;
    // received[round][i]: when recipient i got broadcast `round`, 0 until then.
    const received = Array.from({ length: rounds }, () => new Float64Array(k));
    const deliveredCount = new Int32Array(rounds);
    const lastId = new Map<string, number>();
    const eventIds = Array.from({ length: rounds }, () => new Set<number>());
    const onEvent = (user: LoggedInUser, event: SseEvent) => {
      if (event.type === "presence") return;
      if (event.type !== "broadcast") {
        violations.add("unexpected-event", `${user.username}: ${event.type}`);
        return;
      }
      const id = Number(event.id);
      if (!(id > (lastId.get(user.username) ?? 0)))
        violations.add("id-order", `${user.username}: id ${event.id} after ${lastId.get(user.username)}`);
      lastId.set(user.username, id);
      const data = JSON.parse(event.data) as { id: number; from: string; text: string };
      const match = /^(\S+) r(\d+) /.exec(data.text);
      if (!match || match[1] !== tag) {
        violations.add("unknown", `${user.username}: ${data.text.slice(0, 60)}`);
        return;
      }
      const round = Number(match[2]);
      if (user === sender) {
        violations.add("sender-got-own", `round ${round} came back to its sender`);
        return;
      }
      if (data.from !== sender.username) violations.add("wrong-sender", `${user.username}: from ${data.from}`);
      eventIds[round]!.add(data.id);
      if (received[round]![user.index]! > 0) {
        violations.add("duplicate", `${user.username} got round ${round} twice`);
        return;
      }
      // Rounds go out one after another, so each stream must see them in round order.
      if (round > 0 && received[round - 1]![user.index] === 0)
        violations.add("order", `${user.username} got round ${round} before round ${round - 1}`);
      received[round]![user.index] = event.receivedAt;
      deliveredCount[round]!++;
    };
    const streams = await openStreams(origin, [...recipients, sender], options.concurrency, {
      onEvent,
      onUnexpectedClose: (user, stream) =>
        violations.add("stream-closed", `${user.username}: ${stream.error?.message ?? "closed by the server"}`),
    });
    options.log(`broadcast fan-out: ${k} recipients online`);
    await sleep(500);

    const connection = new HttpConnection(origin);
    const untilLast = new Samples();
    const all = new Samples();
    const postLatency = new Samples();
    let postedRecipients = -1;
    const meter = new CpuMeter(server.pid);
    for (let round = 0; round < rounds; round++) {
      const sentAt = nowMs();
      const response = await connection.request("POST", "/broadcasts", {
        headers: { Authorization: sender.authorization },
        body: { text: `${tag} r${round} t${sentAt.toFixed(3)}` },
      });
      postLatency.add(nowMs() - sentAt);
      if (response.status !== 201) {
        violations.add("post-failed", `round ${round}: ${response.status} ${response.body.slice(0, 120)}`);
        break;
      }
      const body = JSON.parse(response.body) as { id: number; recipients: number | string[] };
      postedRecipients = Array.isArray(body.recipients) ? body.recipients.length : body.recipients;
      if (postedRecipients !== k)
        violations.add("recipient-count", `round ${round}: 201 says ${postedRecipients} recipients, ${k} are online`);
      const arrived = await waitUntil(() => deliveredCount[round] === k, DELIVERY_TIMEOUT_MS, 2);
      if (!arrived)
        violations.add(
          "lost",
          `round ${round}: ${deliveredCount[round]} of ${k} recipients got it within ${DELIVERY_TIMEOUT_MS / 1000} s`,
        );
      for (const id of eventIds[round]!) {
        if (id !== body.id)
          violations.add("id-mismatch", `round ${round}: an event carried broadcast id ${id}, the 201 said ${body.id}`);
      }
      let last = 0;
      for (const at of received[round]!) {
        if (at === 0) continue;
        all.add(at - sentAt);
        if (at - sentAt > last) last = at - sentAt;
      }
      untilLast.add(last);
      options.log(`  round ${round}: last of ${deliveredCount[round]} recipients after ${formatMs(last)}`);
      await sleep(300);
    }
    const cpu = meter.stop();
    connection.close();
    await sleep(200);
    for (const stream of streams) stream.close();

    const lastSummary = untilLast.summary();
    result.figures.push(
      {
        label: `time until the last of ${formatCount(k)} recipients has it (per broadcast)`,
        value: `median ${formatMs(untilLast.percentile(50))}, worst ${formatMs(lastSummary.max)}`,
        cpu,
      },
      { label: "POST → each recipient's event (all broadcasts)", value: formatLatency(all.summary()), cpu },
      { label: "POST /broadcasts → 201", value: formatLatency(postLatency.summary()), cpu },
      { label: "CPU per delivered broadcast event", value: cpuPerOperation(cpu, all.count, "event"), cpu },
    );
    result.metrics = {
      untilLastMedian: untilLast.percentile(50),
      untilLastWorst: lastSummary.max,
      p50: all.percentile(50),
      p99: all.percentile(99),
    };
    result.checks.push(
      ...violations.checks({
        "post-failed": "every POST /broadcasts answered 201",
        "recipient-count": "the 201 counts every online user but the sender",
        lost: "every recipient got every broadcast",
        duplicate: "no recipient got a broadcast twice",
        "sender-got-own": "the sender does not get its own broadcast",
        order: "broadcasts arrive in the order sent",
        "id-order": "event ids increase on every stream",
        "id-mismatch": "every event carries the broadcast id the 201 returned",
        "stream-closed": "no stream was cut off",
      }),
    );
    result.targets.push({
      name: "all 5,000 recipients within 1 s",
      ok: k >= 5000 && lastSummary.max < 1000,
      detail: `${formatCount(k)} recipients, worst ${formatMs(lastSummary.max)}`,
    });
  } finally {
    await scenario.close();
  }
  // The same fan-out from a bare node:http server (no database, no checks), measured the same way.
  const bare = await measureBareFanout(k, rounds, options.concurrency);
  const ours = result.metrics.untilLastMedian;
  const bareMedian = bare.untilLast.percentile(50);
  result.figures.push(
    {
      label: `bare node:http fan-out: time until the last of ${formatCount(k)} has it (per broadcast)`,
      value: `median ${formatMs(bareMedian)}, worst ${formatMs(bare.untilLast.summary().max)}`,
      cpu: bare.cpu,
    },
    {
      label: "bare node:http fan-out: CPU per delivered event",
      value: cpuPerOperation(bare.cpu, bare.events, "event"),
      cpu: bare.cpu,
    },
  );
  result.metrics.bareUntilLastMedian = bareMedian;
  if (ours !== undefined && bare.events === k * rounds) {
    const ratio = ours / bareMedian;
    result.figures.push({
      label: "time until the last recipient ÷ the bare fan-out's (medians)",
      value: `${ratio.toFixed(2)}× (${formatMs(ours)} ÷ ${formatMs(bareMedian)})`,
    });
    result.targets.push({
      name: `broadcast to ${formatCount(k)} open streams within 1.5× the bare fan-out`,
      ok: k >= 5000 && ratio <= 1.5,
      detail: `${ratio.toFixed(2)}× (median time until the last recipient)`,
    });
  }
  result.checks.push({
    name: "the bare fan-out reached every stream with every broadcast",
    ok: bare.events === k * rounds,
    detail: `${formatCount(bare.events)} of ${formatCount(k * rounds)} events`,
  });
  return result;
}

/**
 * The bare fan-out (bench/baselines/trivial-server.ts fanout): K event streams on a node:http
 * server that writes each POST /broadcasts to all of them; B broadcasts one after another, each
 * timed until its last recipient has it, as for the service.
 */
async function measureBareFanout(
  k: number,
  rounds: number,
  concurrency: number,
): Promise<{ untilLast: Samples; events: number; cpu: CpuShare }> {
  const server = await ServerProcess.start("fanout baseline", ["--import", "tsx", "bench/baselines/trivial-server.ts", "fanout"]);
  const streams = new Array<SseStream>(k);
  const deliveredCount = new Int32Array(rounds);
  const lastAt = new Float64Array(rounds);
  let events = 0;
  try {
    await forEachConcurrently(
      Array.from({ length: k }, (_, index) => index),
      concurrency,
      async (index) => {
        streams[index] = await openStream({
          origin: server.origin,
          token: "bare",
          onEvent: (event) => {
            if (event.type !== "broadcast") return;
            const round = Number(/ r(\d+)$/.exec((JSON.parse(event.data) as { text: string }).text)?.[1]);
            events++;
            deliveredCount[round]!++;
            lastAt[round] = Math.max(lastAt[round]!, event.receivedAt);
          },
        });
      },
    );
    await sleep(500);
    const connection = new HttpConnection(server.origin);
    const untilLast = new Samples();
    const meter = new CpuMeter(server.pid);
    for (let round = 0; round < rounds; round++) {
      const sentAt = nowMs();
      await connection.request("POST", "/broadcasts", { body: { text: `bare r${round}` } });
      await waitUntil(() => deliveredCount[round] === k, DELIVERY_TIMEOUT_MS, 2);
      untilLast.add(lastAt[round]! - sentAt);
      await sleep(300);
    }
    const cpu = meter.stop();
    connection.close();
    return { untilLast, events, cpu };
  } finally {
    for (const stream of streams) stream?.close();
    await server.stop();
  }
}
