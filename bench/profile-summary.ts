import { readFileSync } from "node:fs";

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
};
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

/** Where the service's own code starts in a frame's url: src/ under tsx, dist/ as `npm start` runs it; -1 if elsewhere. */
function ownCodeAt(url: string): number {
  const src = url.indexOf("/src/");
  return src >= 0 ? src : url.indexOf("/dist/");
}

/** Where a frame's code lives: a package, node's internals, the program, or V8 itself. */
function place(url: string): string {
  if (!url) return "(native / V8)";
  if (url.startsWith("node:")) return "node internals";
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const own = ownCodeAt(url);
  if (own >= 0) return url.slice(own + 1);
  return url.replace(/^file:\/\//, "");
}

/** Self time per function and per package from a V8 .cpuprofile, as a short text table. */
export function summarizeProfile(file: string, top = 20): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, micros] of selfTime) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || "(anonymous)";
    const where = place(url);
    const key = url ? `${name}  ${where}:${lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    const group = name === "(idle)" ? "(idle)" : name === "(garbage collector)" ? "(garbage collector)" : where;
    byPlace.set(group, (byPlace.get(group) ?? 0) + micros);
  }
  const busy = total - (byPlace.get("(idle)") ?? 0);
  // Who calls the heaviest functions: their self time split by the chain of callers above them.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const frameName = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    return url ? `${functionName || "(anonymous)"} ${place(url)}:${lineNumber + 1}` : functionName || "(anonymous)";
  };
  const heaviest = [...byFunction]
    .filter(([key]) => !key.startsWith("(") || key === "(anonymous)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([key]) => key);
  const callers = new Map<string, Map<string, number>>();
  for (const [id, micros] of selfTime) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const key = url ? `${functionName || "(anonymous)"}  ${place(url)}:${lineNumber + 1}` : functionName || "(anonymous)";
    if (!heaviest.includes(key)) continue;
    const chain: string[] = [];
    // Skip node's internals so the chain reaches the code that asked for the work.
    for (let up = parent.get(id); up !== undefined && chain.length < 4; up = parent.get(up)) {
      const name = frameName(up);
      if (!name.startsWith("(root)") && !name.includes(" node internals:")) chain.push(name);
    }
    const stacks = callers.get(key) ?? new Map<string, number>();
    const stack = chain.join(" < ");
    stacks.set(stack, (stacks.get(stack) ?? 0) + micros);
    callers.set(key, stacks);
  }
  // Inclusive time of the service's own functions: every sample whose stack passes through them.
  const inclusive = new Map<string, number>();
  const stackCache = new Map<number, string[]>();
  const ownFrames = (id: number): string[] => {
    const cached = stackCache.get(id);
    if (cached) return cached;
    const frames = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const { functionName, url, lineNumber } = byId.get(up)!.callFrame;
      if (ownCodeAt(url) >= 0 && !url.includes("node_modules"))
        frames.add(`${functionName || "(anonymous)"}  ${place(url)}:${lineNumber + 1}`);
    }
    const list = [...frames];
    stackCache.set(id, list);
    return list;
  };
  for (const [id, micros] of selfTime)
    for (const frame of ownFrames(id)) inclusive.set(frame, (inclusive.get(frame) ?? 0) + micros);
  const callerLines = heaviest.flatMap((key) => [
    `${key}:`,
    ...[...(callers.get(key) ?? [])]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([stack, micros]) => `  ${((100 * micros) / busy).toFixed(1).padStart(5)}%  < ${stack}`),
  ]);
  const rows = (map: Map<string, number>, limit: number) =>
    [...map]
      .filter(([key]) => key !== "(idle)" && !key.startsWith("(idle)"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(
        ([key, micros]) =>
          `${((100 * micros) / busy).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${key}`,
      );
  return [
    `profiled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)}%); shares below are of busy time`,
    "self time by package / file:",
    ...rows(byPlace, 12),
    "self time by function:",
    ...rows(byFunction, top),
    "inclusive time of the service's own functions (src/, or dist/ as npm start runs it):",
    ...rows(inclusive, top),
    "callers of the heaviest functions (nearest caller first, node internals left out):",
    ...callerLines,
  ].join("\n");
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  for (const file of process.argv.slice(2)) console.log(`${file}\n${summarizeProfile(file)}\n`);
}
