import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { OPTIONS } from "../../src/config.js";

/** The rows of the README's "Flags and variables" table: flag, variable, default (backticks dropped). */
async function readmeFlagRows(): Promise<string[][]> {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("### Flags and variables"));
  const table = section.slice(section.indexOf("| flag |"), section.indexOf("\n\n", section.indexOf("| flag |")));
  return table
    .split("\n")
    .slice(2)
    .map((row) =>
      row
        .split("|")
        .slice(1, 4)
        .map((cell) => cell.trim().replaceAll("`", "")),
    );
}

describe("the README's flag table", () => {
  it("lists every option of src/config.ts with its flag, variable and default, in the same order, and nothing else", async () => {
    const expected = Object.values(OPTIONS).map((spec) => [
      spec.flag ? `--${spec.flag}` : "",
      spec.env,
      ("shownDefault" in spec ? spec.shownDefault : undefined) ?? ("default" in spec ? spec.default : ""),
    ]);
    expect(await readmeFlagRows()).toEqual(expected);
  });
});
