import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** "Listening for client connections on 127.0.0.1:14400" in nats-server's log. */
const LISTENING = /Listening for client connections on [^\s]+:(\d+)/;

export type NatsServer = { url: string; pid: number; stop(): Promise<void> };

/**
 * Starts a throw-away nats-server (no JetStream, nothing durable: the chat service keeps its
 * truth in PostgreSQL) on loopback, on `port` or, when it is undefined, on a port of its own
 * choosing (`-p -1`). `command` is the nats-server binary: by default NATS_SERVER, else Debian's
 * /usr/sbin/nats-server (not on every user's PATH), else whatever PATH finds.
 */
export function startNatsServer(port: number | undefined, command = defaultCommand()): Promise<NatsServer> {
  const child = spawn(command, ["-a", "127.0.0.1", "-p", String(port ?? -1)], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`nats-server did not start listening within 30 s:\n${lines.join("\n")}`));
    }, 30_000);
    let started = false;
    const read = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(line);
      if (lines.length > 50) lines.splice(0, lines.length - 50);
      const match = started ? null : LISTENING.exec(chunk.toString());
      if (!match) return;
      started = true;
      clearTimeout(timer);
      resolve({
        url: `nats://127.0.0.1:${match[1]}`,
        pid: child.pid!,
        async stop() {
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
          await exit;
          clearTimeout(killer);
        },
      });
    };
    // nats-server logs to stderr; read both in case a build logs elsewhere.
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${command}: ${error.message}`));
    });
    void exit.then((code) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`nats-server exited with code ${code} before listening:\n${lines.join("\n")}`));
    });
  });
}

const defaultCommand = () =>
  process.env.NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
