import { pino, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";
import { serializeError } from "./error-serializer.js";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** Never written, whatever a log call is handed: credentials, private-session secrets and message texts. */
const REDACTED_PATHS = [
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "password",
  "*.password",
  "token",
  "*.token",
  "access_token",
  "*.access_token",
  "text",
  "*.text",
  "secret",
  "*.secret",
];

export type LoggerOptions = {
  logLevel: LogLevel;
  /** Where lines go; standard output by default. */
  destination?: DestinationStream;
  /** Human-readable lines instead of JSON; by default only when standard output is a terminal. */
  pretty?: boolean;
};

/** C0 and C1 controls, DEL, line and paragraph separators, bidi overrides: what could forge or hide a line on a terminal. */
// eslint-disable-next-line no-control-regex -- these are the characters being escaped
const TERMINAL_CONTROLS = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

const escapeControls = (text: string) =>
  text.replace(TERMINAL_CONTROLS, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Every string of a log call, escaped for the terminal format; errors are left to their serializer. */
function escapeForTerminal(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return escapeControls(value);
  if (depth > 5 || value === null || typeof value !== "object" || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((item) => escapeForTerminal(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [escapeControls(key), escapeForTerminal(item, depth + 1)]),
  );
}

/** Bytes of JSON lines gathered before one write to standard output. */
const STDOUT_BUFFER_BYTES = 4096;
/** The longest a line waits in that buffer. */
const STDOUT_FLUSH_MS = 100;

let stdoutLines: DestinationStream | undefined;

/**
 * Standard output for JSON lines, one per process: a system call per line was 7% of the server's
 * busy time under load (one request, one line), so lines are gathered and written at least every
 * STDOUT_FLUSH_MS, and at exit. A kill -9 can lose that last moment of log lines, never data.
 */
function bufferedStdout(): DestinationStream {
  if (stdoutLines) return stdoutLines;
  const stream = pino.destination({ dest: 1, sync: true, minLength: STDOUT_BUFFER_BYTES, periodicFlush: STDOUT_FLUSH_MS });
  process.once("exit", () => stream.flushSync());
  stdoutLines = stream;
  return stream;
}

/** JSON lines (one object per line) for machines; colourised text when a person is watching a terminal. */
export function createLogger(options: LoggerOptions): Logger {
  const readable = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = readable
    ? pretty({
        colorize: options.destination === undefined,
        singleLine: true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
        destination: options.destination ?? 1,
        sync: true,
      })
    : (options.destination ?? bufferedStdout());
  return pino(
    {
      level: options.logLevel,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      // Errors lose their SQL, parameters and data-bearing messages, whatever threw them.
      serializers: { err: serializeError },
      // JSON escapes control characters itself; the terminal format would print a name holding a newline as a second line.
      ...(readable
        ? {
            hooks: {
              logMethod(args, method) {
                method.apply(this, args.map((arg) => escapeForTerminal(arg)) as Parameters<typeof method>);
              },
            },
          }
        : {}),
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
