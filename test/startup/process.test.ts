import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServerProcess } from "../support/server-process.js";

const processes: ChildProcess[] = [];
const directories: string[] = [];

afterEach(async () => {
  for (const child of processes.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

/** Runs the real entry point (`node --import tsx src/index.ts ...`) on the embedded database, whatever this run uses. */
async function startProcess(credentials: string, extraArgs: string[] = []) {
  const directory = await mkdtemp(join(tmpdir(), "chat-start-"));
  directories.push(directory);
  const credentialsFile = join(directory, "credentials.txt");
  const dataDir = join(directory, "data");
  await writeFile(credentialsFile, credentials);
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "PORT", "HOST", "DATA_DIR", "CREDENTIALS_FILE", "JWT_SECRET"]) delete env[name];
  const started = startServerProcess(
    [
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--credentials",
      credentialsFile,
      "--data-dir",
      dataDir,
      "--password-hash-cost",
      "1024",
      ...extraArgs,
    ],
    env,
  );
  const child = started.process;
  processes.push(child);
  const stdout = started.stdout;
  const stderr = started.stderr;
  const exited = started.exited;
  return {
    child,
    dataDir,
    exited,
    output: () => ({ stdout: stdout(), stderr: stderr() }),
    /** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
    async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = stdout()
          .split("\n")
          .find((candidate) => pattern.test(candidate));
        if (line) return line;
        if (child.exitCode !== null)
          throw new Error(`exited with ${child.exitCode} before printing ${pattern}:\n${stdout()}\n${stderr()}`);
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in time:\n${stdout()}\n${stderr()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

describe("the server process", () => {
  it(
    "prints one start-up line with its URL, database and docs, answers /health, and exits 0 on SIGTERM",
    { timeout: 150_000 },
    async () => {
      const server = await startProcess("hans falcon\nluke sunrise\n");
      const line = await server.waitForLine(/listening on/, 140_000);
      const url = line.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/)?.[1];
      expect(url, line).toBeDefined();
      expect(Number(new URL(url!).port)).toBeGreaterThan(0);
      expect(line).toContain(server.dataDir);
      expect(line).toMatch(/PGlite/);
      expect(line).toContain(`${url}/docs`);
      expect(server.output().stdout.trim().split("\n")).toEqual([line]);

      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      const login = await fetch(`${url}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "hans", password: "falcon" }),
      });
      expect(login.status).toBe(200);

      server.child.kill("SIGTERM");
      expect(await server.exited).toEqual({ code: 0, signal: null });
    },
  );

  it("exits non-zero naming the line of a malformed credentials file", { timeout: 60_000 }, async () => {
    const server = await startProcess("hans falcon\nluke\nyoda wise\n");
    const { code } = await server.exited;
    expect(code).not.toBe(0);
    expect(server.output().stderr).toMatch(/credentials\.txt line 2:/);
    expect(server.output().stdout).not.toMatch(/listening on/);
  });

  it("exits non-zero naming a bad argument", { timeout: 60_000 }, async () => {
    const server = await startProcess("hans falcon\n", ["--timeout", "soon"]);
    const { code } = await server.exited;
    expect(code).not.toBe(0);
    expect(server.output().stderr).toMatch(/timeout must be a number of seconds/);
  });
});
