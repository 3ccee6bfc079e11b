import { describe, expect, it } from "vitest";
import { HELP_TEXT, parseCommand } from "../../src/cli/commands.js";

describe("parsing a typed line", () => {
  it.each([
    ["message luke Hey Dude", { name: "message", to: "luke", text: "Hey Dude" }],
    ["message luke  keeps   inner  spacing ", { name: "message", to: "luke", text: "keeps   inner  spacing" }],
    ["broadcast hello everyone", { name: "broadcast", text: "hello everyone" }],
    ["whoelse", { name: "whoelse" }],
    ["whoelsesince 300", { name: "whoelsesince", seconds: 300 }],
    ["block yoda", { name: "block", user: "yoda" }],
    ["unblock yoda", { name: "unblock", user: "yoda" }],
    ["logout", { name: "logout" }],
    ["startprivate luke", { name: "startprivate", user: "luke" }],
    ["private luke hey dude", { name: "private", to: "luke", text: "hey dude" }],
    ["stopprivate luke", { name: "stopprivate", user: "luke" }],
    ["help", { name: "help" }],
    ["  whoelse  ", { name: "whoelse" }],
  ])("reads %j", (line, command) => {
    expect(parseCommand(line)).toEqual({ kind: "command", command });
  });

  it.each(["dance", "Whoelse", "messages luke hi", "/quit"])("calls %j an invalid command", (line) => {
    expect(parseCommand(line)).toEqual({ kind: "invalid" });
  });

  it.each([
    ["message luke", "message <user> <text>"],
    ["message", "message <user> <text>"],
    ["broadcast", "broadcast <text>"],
    ["whoelse now", "whoelse"],
    ["whoelsesince", "whoelsesince <seconds>"],
    ["whoelsesince soon", "whoelsesince <seconds>"],
    ["whoelsesince -5", "whoelsesince <seconds>"],
    ["block", "block <user>"],
    ["block luke yoda", "block <user>"],
    ["private luke", "private <user> <text>"],
    ["logout now", "logout"],
  ])("calls %j invalid and gives the usage", (line, usage) => {
    expect(parseCommand(line)).toEqual({ kind: "invalid", usage });
  });

  it("ignores an empty line", () => {
    expect(parseCommand("   ")).toEqual({ kind: "empty" });
  });

  it("lists every command in help", () => {
    for (const name of ["message", "broadcast", "whoelse", "whoelsesince", "block", "unblock", "logout"]) {
      expect(HELP_TEXT).toContain(name);
    }
    for (const name of ["startprivate", "private", "stopprivate", "help"]) expect(HELP_TEXT).toContain(name);
  });
});
