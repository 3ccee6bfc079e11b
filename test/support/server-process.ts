import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The real entry point as a child process, its output kept as it comes. */
export type StartedProcess = {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Starts `node --import tsx src/index.ts ...args` from the project root, without waiting for anything. */
export function startServerProcess(args: string[], env: NodeJS.ProcessEnv = { ...process.env }): StartedProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/index.ts", ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

export type ServerProcess = {
  url: string;
  port: number;
  process: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
};

/**
 * Starts `src/index.ts` as a real process (port 0) with the given arguments and resolves once it
 * prints where it listens. Its output is kept for failure messages.
 */
export async function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<ServerProcess> {
  const started = startServerProcess(["--port", "0", "--host", "127.0.0.1", ...args], { ...process.env, ...env });
  const child = started.process;
  const output = () => started.stdout() + started.stderr();
  const exited = started.exited.then(({ code, signal }) => code ?? signal ?? "unknown");
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: nothing would stop it.
      child.kill("SIGKILL");
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    const check = () => {
      const match = started.stdout().match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", check);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output()}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    output,
    exited,
    stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
