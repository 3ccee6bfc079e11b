import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialsError, parseCredentials, readCredentialsFile } from "../../src/chat/credentials.js";
import { USERNAME_RULE } from "../../src/chat/username.js";

function credentialsError(text: string): CredentialsError {
  try {
    parseCredentials(text, "credentials.txt");
  } catch (error) {
    expect(error).toBeInstanceOf(CredentialsError);
    return error as CredentialsError;
  }
  throw new Error(`parseCredentials(${JSON.stringify(text)}) did not throw`);
}

describe("parseCredentials", () => {
  it("reads one `username password` per line, keeping case", () => {
    expect(parseCredentials("Hans falcon\nyoda Wise!Old#1\n")).toEqual([
      { username: "Hans", password: "falcon" },
      { username: "yoda", password: "Wise!Old#1" },
    ]);
  });

  it("skips blank lines and accepts CRLF line ends and a missing final newline", () => {
    expect(parseCredentials("\nhans falcon\r\n\r\n  \nluke sunrise")).toEqual([
      { username: "hans", password: "falcon" },
      { username: "luke", password: "sunrise" },
    ]);
  });

  it.each([
    ["a line with no password", "hans falcon\nluke\n", 2],
    ["two spaces between the fields", "hans falcon\nluke  sunrise\n", 2],
    ["a tab instead of a space", "hans falcon\nyoda wise\nluke\tsunrise\n", 3],
    ["a third field", "hans falcon extra\n", 1],
    ["a trailing space", "hans falcon\n\nluke sunrise \n", 3],
    ["a username with characters outside the allowed set", "hans falcon\nlu/ke sunrise\n", 2],
    ["a username of 33 characters, one over the rule every API field shares", `${"a".repeat(33)} falcon\n`, 1],
    ["a username with a control character", "hans falcon\nlu\u0007ke sunrise\n", 2],
    ["a username listed twice", "hans falcon\nluke sunrise\nhans again\n", 3],
  ])("refuses %s, naming the line", (_, text, lineNumber) => {
    const error = credentialsError(text);
    expect(error.message).toContain(`credentials.txt line ${lineNumber}:`);
  });

  it("refuses a file with no users", () => {
    expect(credentialsError("\n\n").message).toBe("credentials.txt: no users");
  });

  it("says what is wrong with a line in words a person can act on", () => {
    expect(credentialsError("hans falcon\nluke\n").message).toBe(
      'credentials.txt line 2: expected "username password" separated by one space',
    );
    expect(credentialsError("lu/ke sunrise\n").message).toBe(`credentials.txt line 1: username "lu/ke" must be ${USERNAME_RULE}`);
    expect(credentialsError("hans falcon\nhans again\n").message).toBe('credentials.txt line 2: username "hans" appears twice');
  });
});

describe("readCredentialsFile", () => {
  it("names the file it cannot read", async () => {
    const missing = join(await mkdtemp(join(tmpdir(), "chat-credentials-")), "missing.txt");
    await expect(readCredentialsFile(missing)).rejects.toThrow(CredentialsError);
    await expect(readCredentialsFile(missing)).rejects.toThrow(`cannot read credentials file ${missing}: ENOENT`);
  });

  it("names the file and line of a malformed entry", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "chat-credentials-")), "credentials.txt");
    await writeFile(file, "hans falcon\nbroken\n");
    await expect(readCredentialsFile(file)).rejects.toThrow(`${file} line 2:`);
  });
});
