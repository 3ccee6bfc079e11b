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
    : (options.destination ?? pino.destination(1));
  return pino(
    {
      level: options.logLevel,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      // Errors lose their SQL, parameters and data-bearing messages, whatever threw them.
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
