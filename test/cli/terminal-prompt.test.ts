import { PassThrough, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createTerminalPrompt } from "../../src/cli/terminal-prompt.js";
import { VirtualScreen } from "./virtual-screen.js";

/** Lets readline process what was typed before the test looks. */
const settle = () => sleep(10);

/** Types key by key, as a person does (one chunk at once is a paste, which readline draws differently). */
function type(input: PassThrough, text: string) {
  for (const key of text) input.write(key);
}

function terminalPrompt(columns?: number) {
  const input = new PassThrough();
  const screen = new VirtualScreen(columns);
  const prompt = createTerminalPrompt({ input, output: screen, terminal: true });
  return { input, screen, prompt };
}

function pipedPrompt() {
  const input = new PassThrough();
  let written = "";
  const output = new Writable({
    write(chunk, _encoding, callback) {
      written += String(chunk);
      callback();
    },
  });
  const prompt = createTerminalPrompt({ input, output, terminal: false });
  return { input, prompt, written: () => written };
}

describe("the prompt on a terminal", () => {
  it("prints an incoming line above the prompt and redraws what was typed", async () => {
    const { input, screen, prompt } = terminalPrompt();
    const command = prompt.readCommand();
    type(input, "hel");
    await settle();

    prompt.print("hans: Hey Dude");

    expect(screen.lines).toEqual(["hans: Hey Dude", "> hel"]);
    expect(screen.cursor).toEqual({ row: 1, column: 5 });
    input.write("lo\r");
    await expect(command).resolves.toBe("hello");
    prompt.close();
  });

  it("keeps earlier lines and stacks several incoming ones in order", async () => {
    const { input, screen, prompt } = terminalPrompt();
    void prompt.readCommand();
    input.write("whoel");
    await settle();

    prompt.print("luke logged in");
    prompt.print("yoda logged out");

    expect(screen.lines).toEqual(["luke logged in", "yoda logged out", "> whoel"]);
    prompt.close();
  });

  it("redraws typed text that wraps over several rows without losing the incoming line", async () => {
    const { input, screen, prompt } = terminalPrompt(10);
    void prompt.readCommand();
    type(input, "broadcast hi");
    await settle();
    expect(screen.lines).toEqual(["> broadcas", "t hi"]);

    prompt.print("hans: Hey Dude");

    expect(screen.lines).toEqual(["hans: Hey", "Dude", "> broadcas", "t hi"]);
    expect(screen.cursor).toEqual({ row: 3, column: 4 });
    prompt.close();
  });

  it("keeps keys typed before the prompt appeared, and what follows them, in order", async () => {
    const { input, screen, prompt } = terminalPrompt();
    type(input, "wh");
    await settle();
    const command = prompt.readCommand();
    type(input, "oelse");
    await settle();
    expect(screen.lines).toEqual(["> whoelse"]);
    input.write("\r");
    await expect(command).resolves.toBe("whoelse");
    prompt.close();
  });

  it("keeps a few keys typed while a command runs apart from what the command prints", async () => {
    const { input, screen, prompt } = terminalPrompt();
    const first = prompt.readCommand();
    type(input, "startprivate luke\r");
    await first;
    type(input, "pri");
    await settle();

    prompt.print("Start private messaging with luke");

    expect(screen.lines).toEqual(["> startprivate luke", "Start private messaging with luke", "> pri"]);
    const second = prompt.readCommand();
    type(input, "vate luke hey\r");
    await expect(second).resolves.toBe("private luke hey");
    expect(screen.lines).toEqual(["> startprivate luke", "Start private messaging with luke", "> private luke hey"]);
    prompt.close();
  });

  it("keeps keys typed while a command runs on the prompt row, below what the command prints", async () => {
    const { input, screen, prompt } = terminalPrompt(20);
    const first = prompt.readCommand();
    type(input, "startprivate luke\r");
    await first;
    type(input, "private luke hey dude"); // typed before the command has finished
    await settle();

    prompt.print("Start private messaging with luke");

    const expected = ["> startprivate luke", "Start private messag", "ing with luke", "> private luke hey d", "ude"];
    expect(screen.lines).toEqual(expected);
    const second = prompt.readCommand();
    await settle();
    expect(screen.lines).toEqual(expected);
    input.write("\r");
    await expect(second).resolves.toBe("private luke hey dude");
    prompt.close();
  });

  it("prints plainly while no prompt is shown", () => {
    const { screen, prompt } = terminalPrompt();
    prompt.print("Welcome to the greatest messaging application ever!");
    expect(screen.lines).toEqual(["Welcome to the greatest messaging application ever!"]);
    prompt.close();
  });

  it("does not echo a password", async () => {
    const { input, screen, prompt } = terminalPrompt();
    const password = prompt.ask("Password: ", { secret: true });
    input.write("falcon\r");
    await expect(password).resolves.toBe("falcon");
    expect(screen.lines.join("\n")).not.toContain("falcon");
    expect(screen.lines[0]).toBe("Password:");
    expect(screen.cursor.row).toBe(1);
    prompt.close();
  });

  it("keeps a password out of the command history", async () => {
    const { input, screen, prompt } = terminalPrompt();
    const password = prompt.ask("Password: ", { secret: true });
    type(input, "falcon\r");
    await password;
    void prompt.readCommand();
    input.write("\x1b[A"); // the up arrow recalls the previous line
    await settle();
    expect(screen.lines.join("\n")).not.toContain("falcon");
    prompt.close();
  });

  it("ends input on Ctrl+C as on Ctrl+D", async () => {
    const { input, prompt } = terminalPrompt();
    const command = prompt.readCommand();
    input.write("\x03");
    await expect(command).resolves.toBeUndefined();
  });

  it("erases the prompt when it closes with a last line", async () => {
    const { input, screen, prompt } = terminalPrompt();
    void prompt.readCommand();
    input.write("hel");
    await settle();

    prompt.close("Logged out after inactivity");

    expect(screen.lines).toEqual(["Logged out after inactivity"]);
  });
});

describe("the prompt on a pipe", () => {
  it("reads lines that arrived before they were asked for", async () => {
    const { input, prompt, written } = pipedPrompt();
    input.write("hans\nfalcon\nwhoelse\n");
    await settle();

    expect(await prompt.ask("Username: ")).toBe("hans");
    expect(await prompt.ask("Password: ", { secret: true })).toBe("falcon");
    expect(await prompt.readCommand()).toBe("whoelse");
    expect(written()).toBe("Username: Password: ");
    prompt.close();
  });

  it("prints incoming lines as they are, without a prompt", async () => {
    const { prompt, written } = pipedPrompt();
    void prompt.readCommand();
    prompt.print("hans: Hey Dude");
    expect(written()).toBe("hans: Hey Dude\n");
    prompt.close();
  });

  it("answers undefined once the input has ended", async () => {
    const { input, prompt } = pipedPrompt();
    input.end("logout\n");
    expect(await prompt.readCommand()).toBe("logout");
    expect(await prompt.readCommand()).toBeUndefined();
  });
});
