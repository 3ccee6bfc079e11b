import { spawn, type ChildProcess } from "node:child_process";

/** The nats-server binary: NATS_SERVER, else where Debian's package puts it. */
const binary = () => process.env.NATS_SERVER ?? "/usr/sbin/nats-server";

export type NatsServer = {
  /** The client port on 127.0.0.1. */
  port: number;
  /** nats://127.0.0.1:<port> */
  url: string;
  /** The current process (a new one after restart). */
  process(): ChildProcess;
  /** Everything every process of this server printed, for failure messages. */
  output(): string;
  /** Signals the process (SIGTERM by default; SIGKILL for a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same arguments, once stopped (stops it first otherwise). */
  restart(): Promise<void>;
};

/**
 * A real nats-server on 127.0.0.1:`port`, started with `extraArgs` after the address and port
 * (e.g. `--cluster nats://127.0.0.1:14248 --routes ...` or `-js`). Resolves once it says it is ready.
 */
export async function startNatsServer(port: number, extraArgs: string[] = [], timeoutMs = 20_000): Promise<NatsServer> {
  const args = ["-a", "127.0.0.1", "-p", String(port), ...extraArgs];
  let output = "";
  let child: ChildProcess;
  let exited: Promise<void>;

  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const from = output.length;
      child = spawn(binary(), args, { stdio: ["ignore", "pipe", "pipe"] });
      exited = new Promise((done) => child.once("exit", () => done()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`nats-server on ${port} not ready in ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const watch = (chunk: string) => {
        output += chunk;
        if (output.includes("Server is ready", from)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.setEncoding("utf8").on("data", watch);
      child.stderr?.setEncoding("utf8").on("data", watch);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nats-server on ${port} exited before it was ready:\n${output}`));
      });
    });

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  await launch();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    process: () => child,
    output: () => output,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}
