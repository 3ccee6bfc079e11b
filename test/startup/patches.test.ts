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
    const source = await readFile(new URL("node_modules/postgres/src/connection.js", root), "utf8");
    const patch = await readFile(new URL("patches/postgres+3.4.9.patch", root), "utf8");
    const added = patch
      .split("\n")
      .filter((line) => line.startsWith("+") && !line.startsWith("+++"))
      .map((line) => line.slice(1).trim())
      .filter((line) => line.length > 20);
    expect(added.length).toBeGreaterThan(0);
    for (const line of added) expect(source).toContain(line);
  });
});
