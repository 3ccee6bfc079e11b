import { readdirSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { nowMs } from "./load/clock.js";

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux build we run on. */
const TICKS_PER_SECOND = 100;

/** Resident set size of a process in bytes (VmRSS), or NaN when it is gone. */
export function readRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User plus system CPU time of a process in milliseconds (0 when it is gone). */
function readCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU milliseconds of every process named `postgres` (the server and all its backends). */
function readPostgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.includes("(postgres)")) total += readCpuMs(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

/** Busy CPU time of the whole machine in milliseconds, from /proc/stat. */
function readMachineBusyMs(): number {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Share of one core each side used over a window, in percent (200 = both cores of this
 * machine). `other` is everything else running on the machine meanwhile: noise to watch.
 */
export type CpuShare = { generator: number; server: number; postgres: number; other: number; wallMs: number };

/** Measures the CPU the generator (this process and its helpers), the server and PostgreSQL use over a window. */
export class CpuMeter {
  private readonly startedAt = nowMs();
  private readonly generatorStart = process.cpuUsage();
  private readonly serverStart: number;
  private readonly postgresStart: number;
  private readonly helperStart: number;
  private readonly machineStart = readMachineBusyMs();

  /** `serverPid` may list several server processes (instances of one cluster): their CPU adds up. */
  constructor(
    private readonly serverPid: number | readonly number[] | undefined,
    private readonly helperPids: () => number[] = () => [],
  ) {
    this.serverStart = this.serverCpuMs();
    this.postgresStart = readPostgresCpuMs();
    this.helperStart = this.helperCpuMs();
  }

  private serverCpuMs(): number {
    if (this.serverPid === undefined) return 0;
    const pids = typeof this.serverPid === "number" ? [this.serverPid] : this.serverPid;
    return pids.reduce((sum, pid) => sum + readCpuMs(pid), 0);
  }

  private helperCpuMs(): number {
    return this.helperPids().reduce((sum, pid) => sum + readCpuMs(pid), 0);
  }

  stop(): CpuShare {
    const wallMs = nowMs() - this.startedAt;
    const generator = process.cpuUsage(this.generatorStart);
    const generatorMs = (generator.user + generator.system) / 1000 + (this.helperCpuMs() - this.helperStart);
    const serverMs = this.serverCpuMs() - this.serverStart;
    const postgresMs = readPostgresCpuMs() - this.postgresStart;
    const otherMs = Math.max(0, readMachineBusyMs() - this.machineStart - generatorMs - serverMs - postgresMs);
    const percent = (ms: number) => (wallMs > 0 ? (100 * ms) / wallMs : 0);
    return {
      generator: percent(generatorMs),
      server: percent(serverMs),
      postgres: percent(postgresMs),
      other: percent(otherMs),
      wallMs,
    };
  }
}

export type MachineInfo = { cpuModel: string; cores: number; memoryGiB: number; node: string; kernel: string; postgres?: string };

export function describeMachine(): MachineInfo {
  let kernel: string;
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    kernel = process.platform;
  }
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel,
  };
}
