import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Origin } from "./load/http-client.js";
import { readRss } from "./resource-usage.js";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

const LISTENING = /listening on http:\/\/([^\s:/]+):(\d+)/;

/** A node process that prints `listening on http://host:port` once it serves: the chat server or a baseline. */
export class ServerProcess {
  private exited = false;
  private readonly exit: Promise<number | null>;
  private log: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly origin: Origin,
    readonly label: string,
    exit: Promise<number | null>,
  ) {
    this.exit = exit.then((code) => {
      this.exited = true;
      return code;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** The last lines the process printed, for error reports. */
  recentOutput(): string {
    return this.log.slice(-30).join("\n");
  }

  rss(): number {
    return readRss(this.pid);
  }

  static start(
    label: string,
    nodeArgs: string[],
    options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): Promise<ServerProcess> {
    const child = spawn(process.execPath, nodeArgs, {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const remember = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(line);
      if (lines.length > 200) lines.splice(0, lines.length - 100);
    };
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new Error(`${label} did not print "listening on" within ${options.timeoutMs ?? 120_000} ms:\n${lines.join("\n")}`),
        );
      }, options.timeoutMs ?? 120_000);
      let started = false;
      child.stdout.on("data", (chunk: Buffer) => {
        remember(chunk);
        if (started) return;
        const match = LISTENING.exec(chunk.toString());
        if (!match) return;
        started = true;
        clearTimeout(timer);
        const server = new ServerProcess(child, { host: match[1]!, port: Number(match[2]) }, label, exit);
        server.log = lines;
        resolve(server);
      });
      child.stderr.on("data", remember);
      void exit.then((code) => {
        if (started) return;
        clearTimeout(timer);
        reject(new Error(`${label} exited with code ${code} before listening:\n${lines.join("\n")}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (this.exited) return this.exit;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL at once: nothing the server has not committed survives. */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGKILL");
    await this.exit;
  }
}

export type BenchUserCredentials = { username: string; password: string };

/** `u00000`… with passwords `pw-u00000`…: valid usernames, sorted in index order. */
export function benchUsers(count: number, prefix = "u"): BenchUserCredentials[] {
  const width = Math.max(5, String(count).length);
  return Array.from({ length: count }, (_, index) => {
    const username = `${prefix}${String(index).padStart(width, "0")}`;
    return { username, password: `pw-${username}` };
  });
}

export function writeCredentials(directory: string, users: BenchUserCredentials[]): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, "credentials.txt");
  writeFileSync(file, users.map((user) => `${user.username} ${user.password}\n`).join(""));
  return file;
}

/** Requests per minute no benchmark reaches (0 would switch the limiter off altogether). */
const UNREACHABLE_RATE_LIMIT = 1_000_000_000;

export type ChatServerOptions = {
  credentialsFile: string;
  /** PostgreSQL database for this server; without it the server uses embedded PGlite in dataDir. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** Write a V8 CPU profile into this directory when the server exits. */
  cpuProfileDir?: string | undefined;
  /** Node.js and V8 flags before the script (e.g. --max-semi-space-size=64). */
  nodeOptions?: string[] | undefined;
  extraArgs?: string[];
};

/** Compiles the service to dist/ as `npm start` does (incremental: quick when nothing changed). */
export function buildService(): void {
  execFileSync(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
    cwd: repoRoot,
    stdio: "inherit",
  });
}

/** Starts the chat service as `npm start` does (the compiled dist/index.js; run buildService first), on a free port. */
export function startChatServer(options: ChatServerOptions): Promise<ServerProcess> {
  const nodeArgs: string[] = ["--enable-source-maps", ...(options.nodeOptions ?? [])];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    nodeArgs.push("--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir);
  }
  nodeArgs.push(
    "dist/index.js",
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--credentials",
    options.credentialsFile,
    "--password-hash-cost",
    "1024",
    "--block-duration",
    "60",
    "--timeout",
    "3600",
  );
  // One generator address sends what thousands of clients would: lift the per-address and
  // per-user budgets out of reach while keeping the limiter itself on the request path.
  for (const limit of ["--rate-limit", "--address-rate-limit", "--login-rate-limit", "--login-address-rate-limit"]) {
    nodeArgs.push(limit, String(UNREACHABLE_RATE_LIMIT));
  }
  if (options.databaseUrl) nodeArgs.push("--database-url", options.databaseUrl);
  else nodeArgs.push("--data-dir", options.dataDir);
  nodeArgs.push(...(options.extraArgs ?? []));
  // The server reads DATABASE_URL and NATS_URL itself when no flag is given: keep the run what its flags say.
  return ServerProcess.start("chat server", nodeArgs, { env: { DATABASE_URL: "", NATS_URL: "", JWT_SECRET: "" } });
}
