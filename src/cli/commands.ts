/** The commands of the original client, and how a typed line becomes one. */
export type Command =
  | { name: "message"; to: string; text: string }
  | { name: "broadcast"; text: string }
  | { name: "whoelse" }
  | { name: "whoelsesince"; seconds: number }
  | { name: "block"; user: string }
  | { name: "unblock"; user: string }
  | { name: "logout" }
  | { name: "startprivate"; user: string }
  | { name: "private"; to: string; text: string }
  | { name: "stopprivate"; user: string }
  | { name: "help" };

export type ParsedLine = { kind: "command"; command: Command } | { kind: "invalid"; usage?: string } | { kind: "empty" };

export const INVALID_COMMAND = "Error. Invalid command";

/** Each command's usage and what it does, in the order `help` lists them. */
const reference: ReadonlyArray<readonly [usage: string, description: string]> = [
  ["message <user> <text>", "send a message; kept for them if they are offline"],
  ["broadcast <text>", "send to everyone online"],
  ["whoelse", "list the other users online"],
  ["whoelsesince <seconds>", "list the users online at any moment in the last <seconds>"],
  ["block <user>", "stop <user> messaging you"],
  ["unblock <user>", "let <user> message you again"],
  ["startprivate <user>", "open a direct connection to <user>"],
  ["private <user> <text>", "send over that connection; the server never sees it"],
  ["stopprivate <user>", "close the direct connection to <user>"],
  ["logout", "log out and quit"],
  ["help", "show this list"],
];

const usageOf = new Map(reference.map(([usage]) => [usage.split(" ")[0] ?? usage, usage]));

export const HELP_TEXT = reference.map(([usage, description]) => `  ${usage.padEnd(24)}${description}`).join("\n");

export function parseCommand(line: string): ParsedLine {
  const [name, rest] = splitFirstWord(line.trim());
  if (name === "") return { kind: "empty" };
  const command = toCommand(name, rest);
  if (command !== undefined) return { kind: "command", command };
  const usage = usageOf.get(name);
  return usage === undefined ? { kind: "invalid" } : { kind: "invalid", usage };
}

function toCommand(name: string, rest: string): Command | undefined {
  switch (name) {
    case "message":
    case "private": {
      const [to, text] = splitFirstWord(rest);
      return to !== "" && text !== "" ? { name, to, text } : undefined;
    }
    case "broadcast":
      return rest !== "" ? { name, text: rest } : undefined;
    case "whoelse":
    case "logout":
    case "help":
      return rest === "" ? { name } : undefined;
    case "whoelsesince":
      return /^\d{1,9}$/.test(rest) ? { name, seconds: Number(rest) } : undefined;
    case "block":
    case "unblock":
    case "startprivate":
    case "stopprivate":
      return /^\S+$/.test(rest) ? { name, user: rest } : undefined;
    default:
      return undefined;
  }
}

/** The first word and the rest after the whitespace that follows it, the rest kept as typed. */
function splitFirstWord(text: string): [string, string] {
  const match = /^(\S*)\s*([\s\S]*)$/.exec(text);
  return [match?.[1] ?? "", match?.[2] ?? ""];
}
