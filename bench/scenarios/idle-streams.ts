import { forEachConcurrently, login, type LoggedInUser } from "../load/chat-client.js";
import { nowMs, sleep } from "../load/clock.js";
import { HttpPool } from "../load/http-client.js";
import { openStream, type SseEvent, type SseStream } from "../load/sse-client.js";
import {
  cpuPerOperation,
  formatBytes,
  formatCount,
  formatMs,
  formatRate,
  newScenarioResult,
  type ScenarioResult,
} from "../report.js";
import { CpuMeter } from "../resource-usage.js";
import { startScenarioServer, Violations, type BenchOptions } from "./context.js";

/** Presence counts must hold still this long before the notices count as all delivered. */
const QUIET_MS = 1500;
/** How long the open streams sit idle (pings only) before the settled memory reading; tiny runs have little to settle. */
const settleTimeMs = (streams: number) => (streams >= 1000 ? 15_000 : 2_000);

/** V8 heap in use, from the server's own /metrics (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsed(origin: { host: string; port: number }): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://${origin.host}:${origin.port}/metrics`)).text();
    const match = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Scenario 1: N users each log in and open one stream, C at a time. Every login notifies
 * everyone already online, so ~N²/2 presence notices flow while the streams open.
 */
export async function runIdleStreams(options: BenchOptions): Promise<ScenarioResult> {
  const n = options.users;
  const fullCheck = n <= options.fullPresenceCheckUpTo;
  const result = newScenarioResult("idle-streams", "1. Idle streams", {
    users: n,
    "logins and stream opens in flight": options.concurrency,
    "presence check": fullCheck ? "every notice parsed and matched" : "notices counted (bounds checked)",
  });
  const scenario = await startScenarioServer(options, "idle-streams", n);
  const violations = new Violations();
  const streams = new Array<SseStream>(n);
  try {
    const { server } = scenario;
    const origin = server.origin;
    const userIndex = new Map(scenario.users.map((user, index) => [user.username, index]));
    // seen[i * n + j] = 1 once user i's stream showed j coming online (full check only).
    const seen = fullCheck ? new Uint8Array(n * n) : null;
    const onPresence = (user: LoggedInUser, event: SseEvent) => {
      if (event.type !== "presence") {
        violations.add("unexpected-event", `${user.username}: ${event.type}`);
        return;
      }
      if (event.id !== undefined) violations.add("presence-id", `${user.username}: presence with id ${event.id}`);
      const data = JSON.parse(event.data) as { username?: string; status?: string };
      const other = userIndex.get(data.username ?? "");
      if (other === undefined) {
        violations.add("presence-unknown", `${user.username}: presence of ${data.username}`);
      } else if (other === user.index) {
        violations.add("presence-self", `${user.username} was told about itself`);
      } else if (data.status !== "online") {
        violations.add("presence-status", `${user.username}: ${data.username} ${data.status}`);
      } else if (seen![user.index * n + other]!++ > 0) {
        violations.add("presence-duplicate", `${user.username} told twice that ${data.username} logged in`);
      }
    };

    await sleep(300);
    const rssBefore = server.rss();
    const heapBefore = await heapUsed(origin);
    const pool = new HttpPool(origin, Math.min(32, options.concurrency));
    const loggedIn = new Array<LoggedInUser>(n);
    const meter = new CpuMeter(server.pid);
    const wholeMeter = new CpuMeter(server.pid);
    const startedAt = nowMs();
    let progressAt = startedAt;
    let opened = 0;
    const deadline = startedAt + options.timeLimit * 1000;
    await forEachConcurrently(scenario.users, options.concurrency, async (credentials, index) => {
      if (nowMs() > deadline) return;
      const user = await login(pool, credentials, index);
      loggedIn[index] = user;
      streams[index] = await openStream({
        origin,
        token: user.token,
        countPresenceOnly: !fullCheck,
        onEvent: fullCheck ? (event) => onPresence(user, event) : undefined,
        onClose: (stream, byClient) => {
          if (!byClient) violations.add("stream-closed", `${user.username}: ${stream.error?.message ?? "closed by the server"}`);
        },
      });
      opened++;
      if (nowMs() - progressAt > 5000) {
        progressAt = nowMs();
        options.log(`  idle streams: ${opened}/${n} open after ${formatMs(progressAt - startedAt)}`);
      }
    });
    // Past the time limit no more users log in: figures cover the streams that did open.
    const openIndices = [...streams.keys()].filter((index) => streams[index] !== undefined);
    const m = openIndices.length;
    const openedAt = openIndices.map((index) => streams[index]!.openedAt);
    const allOpenAt = openedAt.reduce((latest, at) => Math.max(latest, at), startedAt);
    const openMs = allOpenAt - startedAt;
    const openCpu = meter.stop();
    const rssOpen = server.rss();
    pool.close();
    options.log(`  idle streams: ${m} open in ${formatMs(openMs)}; waiting for presence notices to drain`);

    // Wait until no stream has received anything for QUIET_MS; CPU is read as of the last change.
    const drainDeadline = nowMs() + Math.max(60_000, n * 20);
    let total = -1;
    let quietSince = nowMs();
    let wholeCpu = wholeMeter.stop();
    let wholeCpuAt = nowMs();
    for (;;) {
      await sleep(100);
      let sum = 0;
      for (const index of openIndices) sum += streams[index]!.presenceCount;
      if (sum !== total) {
        total = sum;
        quietSince = nowMs();
        // Reading CPU scans /proc: twice a second is precise enough and costs the generator little.
        if (quietSince - wholeCpuAt >= 500) {
          wholeCpu = wholeMeter.stop();
          wholeCpuAt = quietSince;
        }
      } else if (nowMs() - quietSince >= QUIET_MS) break;
      if (nowMs() > drainDeadline) {
        violations.add("drain-timeout", `presence still flowing after ${formatMs(drainDeadline - startedAt)}`);
        break;
      }
    }
    const lastNoticeAt = openIndices.reduce((latest, index) => Math.max(latest, streams[index]!.lastEventAt), startedAt);
    const drainMs = lastNoticeAt - startedAt;
    const rssAfter = server.rss();
    // Right after the storm the heap still holds its garbage; idle streams are what is measured.
    const settleMs = settleTimeMs(m);
    await sleep(settleMs);
    const rssSettled = server.rss();
    const heapSettled = await heapUsed(origin);

    // A login sent after i's stream was open must reach i; nothing reaches i twice or about itself.
    const loginTimes = openIndices.map((index) => loggedIn[index]!.loginSentAt).sort((a, b) => a - b);
    const loginsAfter = (time: number) => {
      let low = 0;
      let high = loginTimes.length;
      while (low < high) {
        const middle = (low + high) >> 1;
        if (loginTimes[middle]! > time) high = middle;
        else low = middle + 1;
      }
      return loginTimes.length - low;
    };
    let guaranteedTotal = 0;
    for (const i of openIndices) {
      const stream = streams[i]!;
      const guaranteed = loginsAfter(stream.openedAt);
      guaranteedTotal += guaranteed;
      if (stream.presenceCount < guaranteed) {
        violations.add(
          "presence-missing",
          `${loggedIn[i]!.username} got ${stream.presenceCount} notices, at least ${guaranteed} logins came after its stream opened`,
        );
      }
      if (stream.presenceCount > m - 1) {
        violations.add(
          "presence-duplicate",
          `${loggedIn[i]!.username} got ${stream.presenceCount} notices for ${m - 1} other users`,
        );
      }
      if (seen) {
        for (const j of openIndices) {
          if (j !== i && seen[i * n + j] === 0 && loggedIn[j]!.loginSentAt > stream.openedAt) {
            violations.add("presence-missing", `${loggedIn[i]!.username} never told that ${loggedIn[j]!.username} logged in`);
          }
        }
      }
    }
    for (const index of openIndices) streams[index]!.close();

    const perStreamDrained = (rssAfter - rssBefore) / m;
    const perStream = (rssSettled - rssBefore) / m;
    const heapPerStream = heapBefore !== undefined && heapSettled !== undefined ? (heapSettled - heapBefore) / m : undefined;
    result.figures.push(
      {
        label:
          m === n
            ? `time to log in and open all ${formatCount(n)} streams`
            : `streams opened within the ${options.timeLimit} s limit`,
        value: `${m === n ? "" : `${formatCount(m)} of ${formatCount(n)} in `}${formatMs(openMs)} (${formatRate((1000 * m) / openMs, "stream")})`,
        cpu: openCpu,
      },
      {
        label: "presence notices delivered",
        value: `${formatCount(total)} (≥ ${formatCount(guaranteedTotal)} required, ≤ ${formatCount(m * (m - 1))}; N²/2 = ${formatCount((m * m) / 2)})`,
      },
      {
        label: "time until the last presence notice arrived",
        value: `${formatMs(drainMs)} (${formatRate((1000 * total) / drainMs, "notice")})`,
        cpu: wholeCpu,
      },
      {
        label: "CPU per stream opened (its login, its stream, the notices its login caused)",
        value: cpuPerOperation(wholeCpu, m, "stream"),
        cpu: wholeCpu,
      },
      {
        label: `server RSS before / all open / notices drained / idle ${settleMs / 1000} s`,
        value: `${formatBytes(rssBefore)} / ${formatBytes(rssOpen)} / ${formatBytes(rssAfter)} / ${formatBytes(rssSettled)}`,
      },
      {
        label: "server RSS growth per open stream, when the notices drained",
        value: `${formatBytes(perStreamDrained)} (${(perStreamDrained / 1024).toFixed(1)} KiB)`,
      },
      {
        label: `server RSS growth per open stream, idle ${settleMs / 1000} s later`,
        value: `${formatBytes(perStream)} (${(perStream / 1024).toFixed(1)} KiB)`,
      },
      {
        label: `server V8 heap in use per open stream, idle ${settleMs / 1000} s later (from /metrics)`,
        value:
          heapPerStream === undefined
            ? "not available"
            : `${formatBytes(heapPerStream)} (${(heapPerStream / 1024).toFixed(1)} KiB)`,
      },
    );
    result.notes.push(
      `RSS is read from /proc/<pid>/status (VmRSS) and includes each user's session as well as its stream. The target is checked on the reading taken after the streams sat idle for ${settleMs / 1000} s: right after the presence storm the V8 heap still holds garbage it has not collected. The heap figure is prom-client's nodejs_heap_size_used_bytes, garbage included.`,
    );
    if (!fullCheck) {
      result.notes.push(
        `with ${n} users the notices are counted, not parsed (parsing ~N²/2 JSON documents would make the generator the bottleneck); run with --full-presence-check-up-to ${n} to match every notice.`,
      );
    }
    result.metrics = {
      opened: m,
      openMs,
      drainMs,
      presenceTotal: total,
      rssBefore,
      rssAfter,
      rssSettled,
      rssPerStream: perStream,
      rssPerStreamDrained: perStreamDrained,
      heapPerStream: heapPerStream ?? -1,
    };
    result.checks.push(
      {
        name: `every stream opened answered 200 with text/event-stream (${m} of ${n} attempted within the time limit)`,
        ok: true,
        detail: "",
      },
      ...violations.checks({
        "stream-closed": "no stream was cut off",
        "presence-missing": "every login after a stream opened was announced on it",
        "presence-duplicate": "no login announced twice on a stream",
        "presence-self": "no one is told about their own login",
        "presence-id": "presence notices carry no id (live only)",
        "drain-timeout": "presence notices stopped arriving within the time limit",
      }),
    );
    result.targets.push(
      { name: "10,000 streams open", ok: m >= 10_000, detail: `${formatCount(m)} opened in this run` },
      {
        name: "RSS growth of at most 15 KB per stream",
        ok: perStream <= 15 * 1024,
        detail: `${(perStream / 1024).toFixed(1)} KiB once idle`,
      },
      {
        name: "opening all streams well under a minute",
        ok: openMs < 60_000 && drainMs < 60_000,
        detail: `open ${formatMs(openMs)}, notices drained ${formatMs(drainMs)}`,
      },
    );
  } finally {
    for (const stream of streams) stream?.close();
    await scenario.close();
  }
  return result;
}
