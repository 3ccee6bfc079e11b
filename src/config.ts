import { parseArgs } from "node:util";
import { z } from "zod";
import { LOG_LEVELS } from "./observability/logger.js";

export class ConfigError extends Error {}

/**
 * One start-up option: its flag (none for secrets, which only the environment should carry), its
 * environment variable, its default, and the zod schema that checks and converts it. The usage
 * text, the config type and the README's flag table (checked by a test) all come from this list.
 */
type Option<Schema extends z.ZodType> = {
  flag?: string;
  env: string;
  /** What `--help` shows after the flag, e.g. `<seconds>`. */
  argument?: string;
  default?: string;
  /** The default as the README and `--help` show it, when not the literal value. */
  shownDefault?: string;
  /** Index among the original server's positional arguments `[port] [block_duration] [timeout]`. */
  positional?: number;
  /** A flag that may be repeated, its values joined as a list (the variable takes a comma-separated list). */
  list?: boolean;
  help: string;
  schema: Schema;
};

const option = <Schema extends z.ZodType>(spec: Option<Schema>) => spec;

const seconds = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of seconds` })
    .refine((value) => Number.isFinite(value) && value > 0, `${name} must be a positive number of seconds`);

const perMinute = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of requests per minute` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 (off) or more`);

const atLeastOne = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`);

const origin = z.string().transform((value, context) => {
  if (value === "*") return value;
  const parsed = URL.canParse(value) ? new URL(value).origin : "null";
  if (parsed === "null" || value.replace(/\/$/, "") !== parsed) {
    context.addIssue({
      code: "custom",
      message: `cors-origin "${value}" must be an origin like https://chat.example.com (scheme, host, optional port; no path) or *`,
    });
    return z.NEVER;
  }
  return parsed;
});

/** Every option, in the order `--help` and the README list them. */
export const OPTIONS = {
  port: option({
    flag: "port",
    env: "PORT",
    argument: "<n>",
    default: "4000",
    positional: 0,
    help: "TCP port (0 picks a free one)",
    schema: z.coerce
      .number({ error: "port must be a number" })
      .int("port must be a whole number")
      .min(0, "port must be between 0 and 65535")
      .max(65535, "port must be between 0 and 65535"),
  }),
  host: option({
    flag: "host",
    env: "HOST",
    argument: "<address>",
    default: "0.0.0.0",
    help: "address to listen on",
    schema: z.string().min(1, "host must not be empty"),
  }),
  blockDurationSeconds: option({
    flag: "block-duration",
    env: "BLOCK_DURATION",
    argument: "<seconds>",
    default: "60",
    positional: 1,
    help: "seconds a username stays locked after 3 wrong passwords",
    schema: seconds("block_duration"),
  }),
  timeoutSeconds: option({
    flag: "timeout",
    env: "TIMEOUT",
    argument: "<seconds>",
    default: "120",
    positional: 2,
    help: "seconds without a command before the server logs a session out",
    schema: seconds("timeout"),
  }),
  credentialsFile: option({
    flag: "credentials",
    env: "CREDENTIALS_FILE",
    argument: "<file>",
    default: "./credentials.txt",
    help: "`username password` per line, one space",
    schema: z.string().min(1, "credentials must name a file"),
  }),
  dataDir: option({
    flag: "data-dir",
    env: "DATA_DIR",
    argument: "<dir>",
    default: "./data",
    help: "where the embedded database keeps its files (made private to this user at every start)",
    schema: z.string().min(1, "data-dir must name a directory"),
  }),
  databaseUrl: option({
    flag: "database-url",
    env: "DATABASE_URL",
    argument: "<url>",
    shownDefault: "(none)",
    help: "use this PostgreSQL server instead of the embedded database",
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "database-url must start with postgres:// or postgresql://")
      .optional(),
  }),
  natsUrl: option({
    flag: "nats-url",
    env: "NATS_URL",
    argument: "<url>",
    shownDefault: "(none)",
    list: true,
    help: "fan out between instances over NATS (servers of one NATS cluster, comma-separated) instead of PostgreSQL LISTEN/NOTIFY; needs database-url",
    schema: z.array(
      z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, "nats-url must list servers like nats://127.0.0.1:4222 (nats:// or tls://)"),
    ),
  }),
  pingIntervalSeconds: option({
    flag: "ping-interval",
    env: "PING_INTERVAL",
    argument: "<seconds>",
    default: "15",
    help: "seconds between `: ping` comments on event streams",
    schema: seconds("ping-interval"),
  }),
  idempotencyKeyTtlSeconds: option({
    flag: "idempotency-key-ttl",
    env: "IDEMPOTENCY_KEY_TTL",
    argument: "<seconds>",
    default: "86400",
    help: "seconds an Idempotency-Key is remembered; after that the key is new again and expired keys are deleted",
    schema: seconds("idempotency-key-ttl"),
  }),
  passwordHashCost: option({
    flag: "password-hash-cost",
    env: "PASSWORD_HASH_COST",
    argument: "<n>",
    default: String(2 ** 17),
    help: "scrypt N (r = 8, p = 1), a power of two; lower it only for tests and benchmarks with thousands of users",
    schema: z.coerce
      .number({ error: "password-hash-cost must be a number" })
      .int()
      .refine((n) => n >= 2 && n <= 2 ** 20 && (n & (n - 1)) === 0, "password-hash-cost must be a power of two up to 1048576"),
  }),
  streamBufferBytes: option({
    flag: "stream-buffer",
    env: "STREAM_BUFFER_BYTES",
    argument: "<bytes>",
    default: String(256 * 1024),
    help: "bytes a slow stream reader may fall behind before it is cut off",
    schema: z.coerce
      .number({ error: "stream-buffer must be a number of bytes" })
      .int()
      .min(4096, "stream-buffer must be at least 4096 bytes"),
  }),
  maxStreamsPerSession: option({
    flag: "max-streams-per-session",
    env: "MAX_STREAMS_PER_SESSION",
    argument: "<n>",
    default: "5",
    help: "event streams one session may hold open at once on this instance (more get 429 too_many_streams)",
    schema: atLeastOne("max-streams-per-session"),
  }),
  maxConnections: option({
    flag: "max-connections",
    env: "MAX_CONNECTIONS",
    argument: "<n>",
    shownDefault: "9/10 of the open-file limit",
    help: "connections this process keeps open at once; a request on one more gets 503 and the connection is closed",
    schema: atLeastOne("max-connections").optional(),
  }),
  eventRetentionSeconds: option({
    flag: "event-retention",
    env: "EVENT_RETENTION",
    argument: "<seconds>",
    default: String(7 * 24 * 3600),
    help: "seconds delivered events stay in the event log for resumes (undelivered ones stay until delivered)",
    schema: seconds("event-retention"),
  }),
  logLevel: option({
    flag: "log-level",
    env: "LOG_LEVEL",
    argument: "<level>",
    default: "info",
    help: LOG_LEVELS.join("|"),
    schema: z.enum(LOG_LEVELS, { error: `log-level must be one of ${LOG_LEVELS.join(", ")}` }),
  }),
  corsOrigins: option({
    flag: "cors-origin",
    env: "CORS_ORIGINS",
    argument: "<origin>",
    shownDefault: "(none)",
    list: true,
    help: "origins whose pages may call the API; repeat the flag or give a comma-separated list; * allows any",
    schema: z.array(origin),
  }),
  rateLimitPerUser: option({
    flag: "rate-limit",
    env: "RATE_LIMIT",
    argument: "<n>",
    default: "6000",
    help: "authenticated requests per minute per user (0: off)",
    schema: perMinute("rate-limit"),
  }),
  rateLimitPerAddress: option({
    flag: "address-rate-limit",
    env: "ADDRESS_RATE_LIMIT",
    argument: "<n>",
    default: "12000",
    help: "requests per minute per client address (0: off)",
    schema: perMinute("address-rate-limit"),
  }),
  loginRateLimitPerUsername: option({
    flag: "login-rate-limit",
    env: "LOGIN_RATE_LIMIT",
    argument: "<n>",
    default: "60",
    help: "login attempts per minute per username (0: off)",
    schema: perMinute("login-rate-limit"),
  }),
  loginRateLimitPerAddress: option({
    flag: "login-address-rate-limit",
    env: "LOGIN_ADDRESS_RATE_LIMIT",
    argument: "<n>",
    default: "600",
    help: "login attempts per minute per client address (0: off)",
    schema: perMinute("login-address-rate-limit"),
  }),
  jwtSecret: option({
    env: "JWT_SECRET",
    shownDefault: "generated once, kept in the database",
    help: "token signing secret (32+ characters)",
    schema: z.string().min(32, "JWT_SECRET must be at least 32 characters").optional(),
  }),
};

type Options = typeof OPTIONS;
type OptionKey = keyof Options;

const schema = z.object(
  Object.fromEntries(Object.entries(OPTIONS).map(([key, spec]) => [key, spec.schema])) as {
    [Key in OptionKey]: Options[Key]["schema"];
  },
);

/** Everything the server can be told at start-up; the one place that reads argv and process.env. */
export type Config = z.infer<typeof schema>;

const entries = Object.entries(OPTIONS) as [OptionKey, Option<z.ZodType>][];

/** The `--help` text, from OPTIONS. */
function usage(): string {
  const rows = entries.map(([, spec]) => {
    const name = spec.flag ? `--${spec.flag} ${spec.argument ?? ""}`.trimEnd() : "";
    const shown = spec.shownDefault ?? spec.default;
    return `  ${name.padEnd(32)} ${spec.env.padEnd(26)} ${shown ?? ""}\n      ${spec.help}`;
  });
  return [
    "usage: npm start -- [port] [block_duration] [timeout] [options]",
    `  ${"flag".padEnd(32)} ${"variable".padEnd(26)} default`,
    ...rows,
    "Flags win, then positional arguments, then environment variables, then defaults.",
    "Rate limits are counted by each instance in its own memory.",
  ].join("\n");
}

/** Reads flags, then positional arguments, then environment variables, then defaults. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const parseOptions: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [, spec] of entries) if (spec.flag) parseOptions[spec.flag] = { type: "string", multiple: spec.list === true };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: parseOptions });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${usage()}`);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new ConfigError(usage());
  if (positionals.length > 3) {
    throw new ConfigError(`unexpected argument "${positionals[3]}": at most [port] [block_duration] [timeout]\n${usage()}`);
  }
  const given = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const raw: Record<string, unknown> = Object.fromEntries(
    entries.map(([key, spec]): [string, unknown] => {
      const flagValue: unknown = spec.flag ? values[spec.flag] : undefined;
      if (spec.list) return [key, splitList(Array.isArray(flagValue) ? flagValue.join(",") : env[spec.env])];
      const positional = spec.positional === undefined ? undefined : positionals[spec.positional];
      return [key, given(flagValue) ?? given(positional) ?? given(env[spec.env]) ?? spec.default];
    }),
  );
  const result = schema.safeParse(raw);
  if (!result.success) {
    const messages = result.error.issues.map((issue) => issue.message);
    throw new ConfigError(`${messages.join("; ")}\n${usage()}`);
  }
  if (result.data.natsUrl.length > 0 && !result.data.databaseUrl) {
    throw new ConfigError(
      "nats-url needs database-url: the embedded PGlite database is one instance, so there is nothing to fan out to; " +
        "give a PostgreSQL server that every instance shares",
    );
  }
  return result.data;
}

/** "a, b c" -> ["a", "b", "c"]: a list given with commas or spaces. */
const splitList = (value: string | undefined) => (value ?? "").split(/[\s,]+/).filter((item) => item !== "");
