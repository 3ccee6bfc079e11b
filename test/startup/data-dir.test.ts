import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openPglite } from "../../src/db/client.js";
import { DataDirectoryError, makeDataDirectoryPrivate } from "../../src/db/data-dir.js";

const directories: string[] = [];

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

async function scratch(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "chat-data-dir-"));
  directories.push(directory);
  return directory;
}

/** Every folder and file under `root` (itself included) with its permission bits. */
async function modes(root: string): Promise<{ path: string; mode: number; directory: boolean }[]> {
  const found = [{ path: root, mode: (await stat(root)).mode & 0o777, directory: true }];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isSymbolicLink()) continue;
    const path = join(entry.parentPath, entry.name);
    found.push({ path, mode: (await stat(path)).mode & 0o777, directory: entry.isDirectory() });
  }
  return found;
}

const readableByOthers = (entries: { mode: number }[]) => entries.filter(({ mode }) => (mode & 0o077) !== 0);

describe("the embedded database's folder (it holds the token signing secret), opened at start", () => {
  it("is created 0700 with no file or folder that group or others can read", { timeout: 60_000 }, async () => {
    const dataDir = join(await scratch(), "data");
    const database = await openPglite(dataDir);
    await database.close();
    const entries = await modes(dataDir);
    expect(entries.length).toBeGreaterThan(100);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(readableByOthers(entries)).toEqual([]);
  });

  it("is tightened at start when an existing one is open to others (0755 folders, 0666 files)", async () => {
    const dataDir = join(await scratch(), "data");
    await mkdir(join(dataDir, "base", "1"), { recursive: true, mode: 0o755 });
    await writeFile(join(dataDir, "PG_VERSION"), "17\n", { mode: 0o666 });
    await writeFile(join(dataDir, "base", "1", "2619"), "", { mode: 0o666 });
    await writeFile(join(dataDir, "base", "1", "owner-only"), "", { mode: 0o644 });
    for (const { path, directory } of await modes(dataDir)) await chmod(path, directory ? 0o755 : 0o666);

    makeDataDirectoryPrivate(dataDir);
    expect(
      Object.fromEntries((await modes(dataDir)).map(({ path, mode }) => [path.slice(dataDir.length), mode.toString(8)])),
    ).toEqual({
      "": "700",
      "/PG_VERSION": "600",
      "/base": "700",
      "/base/1": "700",
      "/base/1/2619": "600",
      "/base/1/owner-only": "600",
    });
  });

  it("stops start-up with a message naming the folder when it cannot be made private", async () => {
    const notAFolder = join(await scratch(), "data");
    await writeFile(notAFolder, "");
    const opening = openPglite(notAFolder);
    await expect(opening).rejects.toBeInstanceOf(DataDirectoryError);
    await expect(opening).rejects.toThrow(`data-dir ${notAFolder}: cannot make it readable by this user only`);
  });
});
