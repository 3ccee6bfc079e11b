import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScratchDatabase, type ScratchDatabase } from "../database.js";
import { loginAll, warmUp, type LoggedInUser } from "../load/chat-client.js";
import { HttpPool, type Origin } from "../load/http-client.js";
import type { Check } from "../report.js";
import type { Bus } from "./instances.js";
import {
  benchUsers,
  startChatServer,
  writeCredentials,
  type BenchUserCredentials,
  type ServerProcess,
} from "../server-process.js";

/** Sizes and settings every scenario reads; run.ts fills them from flags. */
export type BenchOptions = {
  /** Idle streams and reconnect storm: users with one stream each. */
  users: number;
  /** Direct messages and reconnect storm: users posting messages. */
  senders: number;
  /** Direct messages: users with a stream receiving them. */
  recipients: number;
  /** Offered messages per second for the direct-messages fixed-rate phase. */
  rate: number;
  /** Offered messages per second while the reconnect storm runs. */
  stormRate: number;
  /** Seconds each measured phase runs. */
  duration: number;
  /** Broadcast fan-out: online recipients. */
  fanout: number;
  /** Broadcast fan-out: broadcasts sent one after another. */
  broadcasts: number;
  /** Requests in flight while logging users in and opening streams. */
  concurrency: number;
  /** Bytes of each message text. */
  textBytes: number;
  /** Idle streams: seconds after which no more users log in (the run reports how many opened). */
  timeLimit: number;
  /** Parse every presence notice (exact checks) up to this many users; above it, count them. */
  fullPresenceCheckUpTo: number;
  /** Several instances: the instance counts to compare, each on every bus in `buses`. */
  instanceCounts: number[];
  buses: Bus[];
  /** Several instances: offered messages per second per instance (the total grows with the count). */
  instanceRate: number;
  /** Direct messages (many users) and soak: users online, each sending to a few others. */
  activeUsers: number;
  /** Direct messages (many users): offered loads after the closed loop, in percent of its rate. */
  loadPercents: number[];
  /** Soak: minutes at a fixed offered rate, reported per minute. */
  soakMinutes: number;
  /** Soak: offered messages/s; undefined measures the saturation first and offers half of it. */
  soakRate: number | undefined;
  /** Several instances: the loopback port for the benchmark's own nats-server; undefined lets it choose. */
  natsPort: number | undefined;
  /** PostgreSQL server to create scratch databases on; undefined means embedded PGlite. */
  databaseUrl: string | undefined;
  /** Directory for server CPU profiles, one subdirectory per scenario. */
  cpuProfileDir: string | undefined;
  /** Extra Node.js and V8 flags for the service's processes (--node-options). */
  nodeOptions: string[];
  /** Scratch space (credentials files, PGlite data). */
  workDir: string;
  runId: string;
  log: (line: string) => void;
};

export type ScenarioServer = {
  server: ServerProcess;
  users: BenchUserCredentials[];
  /** Two users reserved for warm-up, outside `users`. */
  warmUpUsers: [BenchUserCredentials, BenchUserCredentials];
  /** The scenario's own database, when on PostgreSQL. */
  databaseUrl: string | undefined;
  profileDir: string | undefined;
  /** Stops the server (SIGTERM, so a CPU profile is written) and removes the database. */
  close(): Promise<void>;
};

export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), "chat-bench-"));
}

/** A fresh database, a credentials file with `userCount` users, a running server, warmed up. */
export async function startScenarioServer(
  options: BenchOptions,
  scenarioId: string,
  userCount: number,
  extraArgs: string[] = [],
): Promise<ScenarioServer> {
  const directory = join(options.workDir, scenarioId);
  const users = benchUsers(userCount);
  const warmUpUsers = benchUsers(2, "warmup") as [BenchUserCredentials, BenchUserCredentials];
  const credentialsFile = writeCredentials(directory, [...users, ...warmUpUsers]);
  let database: ScratchDatabase | undefined;
  if (options.databaseUrl) {
    database = await createScratchDatabase(options.databaseUrl, `bench_${options.runId}_${scenarioId.replaceAll("-", "_")}`);
  }
  const profileDir = options.cpuProfileDir ? join(options.cpuProfileDir, scenarioId) : undefined;
  let server: ServerProcess;
  try {
    server = await startChatServer({
      credentialsFile,
      databaseUrl: database?.url,
      dataDir: join(directory, "data"),
      cpuProfileDir: profileDir,
      nodeOptions: options.nodeOptions,
      extraArgs,
    });
  } catch (error) {
    await database?.drop();
    throw error;
  }
  const close = async () => {
    await server.stop();
    await database?.drop();
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    await warmUp(server.origin, warmUpUsers[0], warmUpUsers[1]);
  } catch (error) {
    const output = server.recentOutput();
    await close();
    throw new Error(`${(error as Error).message}\nserver output:\n${output}`, { cause: error });
  }
  return { server, users, warmUpUsers, databaseUrl: database?.url, profileDir, close };
}

/** Logs every scenario user in over a pool of keep-alive connections, `options.concurrency` at a time. */
export function loginScenarioUsers(scenario: ScenarioServer, options: BenchOptions): Promise<LoggedInUser[]> {
  return loginUsers(scenario.server.origin, scenario.users, options);
}

/** Logs `users` in on the server at `origin`, `options.concurrency` at a time, over keep-alive connections. */
export async function loginUsers(
  origin: Origin,
  users: readonly BenchUserCredentials[],
  options: Pick<BenchOptions, "concurrency">,
): Promise<LoggedInUser[]> {
  const pool = new HttpPool(origin, Math.min(32, options.concurrency));
  try {
    return await loginAll(pool, users, options.concurrency);
  } finally {
    pool.close();
  }
}

/**
 * The main thread's .cpuprofile in a directory: the largest one, since a loader or worker
 * thread may write a small profile of its own beside it.
 */
export function mainThreadProfile(directory: string | undefined): string | undefined {
  if (!directory) return undefined;
  try {
    const files = readdirSync(directory)
      .filter((file) => file.endsWith(".cpuprofile"))
      .map((file) => ({ file: join(directory, file), size: statSync(join(directory, file)).size }))
      .sort((a, b) => b.size - a.size);
    return files[0]?.file;
  } catch {
    return undefined;
  }
}

/** Counts correctness violations by kind and keeps a few examples of each for the report. */
export class Violations {
  private readonly counts = new Map<string, number>();
  private readonly examples = new Map<string, string[]>();

  add(kind: string, example: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const list = this.examples.get(kind) ?? [];
    if (list.length < 3) list.push(example);
    this.examples.set(kind, list);
  }

  count(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  /** One check per kind listed (passing when zero), plus one for any kind not listed. */
  checks(kinds: Record<string, string>): Check[] {
    const checks: Check[] = Object.entries(kinds).map(([kind, name]) => ({
      name,
      ok: this.count(kind) === 0,
      detail: this.count(kind) === 0 ? "" : `${this.count(kind)} violations, e.g. ${this.examples.get(kind)!.join("; ")}`,
    }));
    const other = [...this.counts.keys()].filter((kind) => !(kind in kinds));
    if (other.length > 0) {
      checks.push({
        name: "no other protocol violations",
        ok: false,
        detail: other.map((kind) => `${kind}: ${this.count(kind)} (${this.examples.get(kind)!.join("; ")})`).join("; "),
      });
    }
    return checks;
  }
}
