import readline from "node:readline";
import type { Readable, Writable } from "node:stream";
import { MutableOutput } from "./muted-output.js";

export type TerminalPromptOptions = {
  input: Readable;
  output: Writable & { columns?: number };
  /** True for an interactive terminal: line editing, a command prompt, redrawing. False for pipes and files. */
  terminal: boolean;
};

/** Reads the user's lines and prints the client's, never splitting what the user is typing. */
export type TerminalPrompt = {
  /** Shows `question` and reads one line; a secret is not echoed on a terminal. Undefined once input has ended. */
  ask(question: string, options?: { secret?: boolean }): Promise<string | undefined>;
  /** Reads the next command line, behind a `> ` prompt on a terminal. Undefined once input has ended. */
  readCommand(): Promise<string | undefined>;
  /** Prints a line above the prompt and redraws the prompt with whatever is typed so far. */
  print(line: string): void;
  /** Stops reading, erasing a prompt still shown, and prints a last line if given. */
  close(lastLine?: string): void;
};

const COMMAND_PROMPT = "> ";

export function createTerminalPrompt(options: TerminalPromptOptions): TerminalPrompt {
  const { output, terminal } = options;
  const echo = new MutableOutput(output);
  const lines = readline.createInterface({ input: options.input, output: echo, terminal });
  const queued: string[] = [];
  let waiting: ((line: string | undefined) => void) | undefined;
  let ended = false;
  let prompting = false;
  let readingSecret = false;

  lines.on("line", (line) => {
    if (waiting === undefined) return void queued.push(line);
    const resolve = waiting;
    waiting = undefined;
    resolve(line);
  });
  lines.on("close", () => {
    ended = true;
    waiting?.(undefined);
    waiting = undefined;
  });
  lines.on("SIGINT", () => lines.close()); // Ctrl+C ends input like Ctrl+D: the client logs out and exits
  lines.on("history", (history) => {
    if (readingSecret) history.shift(); // readline documents this way of keeping a password out of history
  });

  const nextLine = (): Promise<string | undefined> => {
    const line = queued.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (waiting = resolve));
  };

  const readBehind = async (prompt: string, secret: boolean): Promise<string | undefined> => {
    if (ended) return undefined;
    lines.setPrompt(prompt);
    lines.prompt(true); // keys typed ahead, before the prompt showed, stay in order with the cursor after them
    prompting = true;
    readingSecret = secret;
    echo.muted = secret && terminal;
    try {
      return await nextLine();
    } finally {
      prompting = false;
      readingSecret = false;
      if (echo.muted) output.write("\n"); // the Enter the user typed was muted too
      echo.muted = false;
      lines.setPrompt(COMMAND_PROMPT); // keys typed before the next question are drawn behind the command prompt
    }
  };

  /**
   * Whether the bottom row holds a prompt or keys typed ahead of one (while a command runs): printed
   * lines go above it. Readline draws keys typed ahead behind its last prompt, so they are erased and drawn alike.
   */
  const showsPrompt = () => terminal && !ended && !readingSecret && (prompting || lines.line !== "");

  /** Clears the prompt and the typed text from the screen; returns how many rows above the cursor they began. */
  const erasePrompt = (): number => {
    const rowsAboveCursor = lines.getCursorPos().rows;
    readline.moveCursor(output, 0, -rowsAboveCursor);
    readline.cursorTo(output, 0);
    readline.clearScreenDown(output);
    return rowsAboveCursor;
  };

  return {
    ask: (question, askOptions) => readBehind(question, askOptions?.secret ?? false),

    readCommand: () => (terminal ? readBehind(COMMAND_PROMPT, false) : nextLine()),

    print(line) {
      if (!showsPrompt()) return void output.write(`${line}\n`);
      // Print the line where the prompt was, then let readline draw the prompt and the typed text again below it.
      // The prompt and text may wrap over several rows; the extra newlines make up for the rows readline moves up.
      const rowsAboveCursor = erasePrompt();
      output.write(`${line}\n${"\n".repeat(rowsAboveCursor)}`);
      lines.prompt(true);
    },

    close(lastLine) {
      if (showsPrompt()) erasePrompt();
      lines.close();
      if (lastLine !== undefined) output.write(`${lastLine}\n`);
    },
  };
}
