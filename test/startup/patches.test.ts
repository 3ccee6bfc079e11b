import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);

/** Each patch in patches/ as patch-package names it: `<package>+<version>.patch`. */
async function patches() {
  const names = (await readdir(new URL("patches/", root))).filter((name) => name.endsWith(".patch"));
  return names.map((name) => {
    const match = /^(.+)\+([^+]+)\.patch$/.exec(name);
    if (!match) throw new Error(`${name} is not named <package>+<version>.patch`);
    return { file: name, name: match[1]!.replaceAll("+", "/"), version: match[2]! };
  });
}

describe("patched dependencies", () => {
  it("are installed at the very version each patch was made for, so an upgrade is looked at", async () => {
    const found = await patches();
    expect(found.map((patch) => patch.name)).toContain("postgres");
    for (const patch of found) {
      const installed = JSON.parse(await readFile(new URL(`node_modules/${patch.name}/package.json`, root), "utf8")) as {
        version: string;
      };
      expect(
        installed.version,
        `${patch.name} is ${installed.version} but patches/${patch.file} was made for ${patch.version}: ` +
          "read the note at the top of the patch, then drop it (fixed upstream) or remake it for the new version",
      ).toBe(patch.version);
    }
  });

  it("carry their fix in the installed code (patch-package ran at install)", async () => {
    const patch = await readFile(new URL("patches/postgres+3.4.9.patch", root), "utf8");
    // Each file's part of the patch: its added lines must be in that file as installed.
    const parts = patch.split(/^diff --git a\/(\S+) /m).slice(1);
    expect(parts.length).toBeGreaterThan(0);
    for (let index = 0; index < parts.length; index += 2) {
      const installed = await readFile(new URL(parts[index]!, root), "utf8");
      const added = parts[index + 1]!.split("\n")
        .filter((line) => line.startsWith("+") && !line.startsWith("+++"))
        .map((line) => line.slice(1).trim())
        .filter((line) => line.length > 20);
      expect(added.length, parts[index]).toBeGreaterThan(0);
      for (const line of added) expect(installed, parts[index]).toContain(line);
    }
  });
});

type Queue<Item> = {
  readonly length: number;
  push(item: Item): Item;
  shift(): Item | undefined;
  remove(item: Item): Item | null;
};

/**
 * postgres.js keeps the pool's connections in these queues (src/queue.js, patched). A connection
 * taken from the busy queue by shift() and put back by push() while others stay in it is what a
 * pool with more queries waiting than connections does for every query.
 */
describe("postgres.js's connection queue (patched)", () => {
  const load = async () =>
    ((await import(new URL("node_modules/postgres/src/queue.js", root).href)) as { default: <Item>() => Queue<Item> }).default;

  it("keeps its array small when it never runs empty, so remove() does not search every query ever run", async () => {
    const Queue = await load();
    const busy = Queue<object>();
    const connections = Array.from({ length: 3 }, () => ({}));
    for (const connection of connections) busy.push(connection);
    const searched: number[] = [];
    const indexOf = Array.prototype.indexOf;
    Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof indexOf>) {
      searched.push(this.length);
      return indexOf.apply(this, args);
    };
    try {
      for (let query = 0; query < 100_000; query++) {
        const connection = busy.shift()!;
        busy.remove(connection); // what the pool's move() does: not found, it was shifted out
        busy.push(connection);
      }
    } finally {
      Array.prototype.indexOf = indexOf;
    }
    expect(busy.length).toBe(3);
    expect(searched).toHaveLength(100_000);
    expect(Math.max(...searched)).toBeLessThan(4096);
  });

  it("still hands items out first in, first out, and removes one from anywhere", async () => {
    const Queue = await load();
    const queue = Queue<number>();
    const out: number[] = [];
    for (let item = 0; item < 5000; item++) {
      queue.push(item);
      if (item % 3 !== 0) out.push(queue.shift()!);
    }
    expect(queue.remove(4998)).toBe(4998);
    expect(queue.remove(4998)).toBeNull();
    expect(queue.remove(out[0]!)).toBeNull(); // already handed out
    while (queue.length > 0) out.push(queue.shift()!);
    expect(out).toEqual(Array.from({ length: 5000 }, (_, item) => item).filter((item) => item !== 4998));
  });
});
