import { parseArgs } from "node:util";
import { z } from "zod";

/** Everything the server can be told at start-up; the one place that reads argv and process.env. */
export type Config = {
  port: number;
  host: string;
  blockDurationSeconds: number;
  timeoutSeconds: number;
  credentialsFile: string;
  dataDir: string;
  databaseUrl?: string;
  jwtSecret?: string;
  pingIntervalSeconds: number;
  /** scrypt cost parameter N (a power of two); lower only for benchmarks with thousands of users. */
  passwordHashCost: number;
  /** Bytes an event stream may have waiting for a slow reader before it is cut off. */
  streamBufferBytes: number;
  logLevel: LogLevel;
  /** Origins whose pages may call the API (CORS); empty allows none, `*` any. */
  corsOrigins: string[];
  /** Requests per minute, counted per instance (in memory); 0 turns a limit off. */
  rateLimitPerUser: number;
  rateLimitPerAddress: number;
  loginRateLimitPerUsername: number;
  loginRateLimitPerAddress: number;
};

export class ConfigError extends Error {}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const USAGE = `usage: npm start -- [port] [block_duration] [timeout] [options]
  --port <n>              TCP port (default 4000; 0 picks a free one)        PORT
  --host <addr>           address to listen on (default 0.0.0.0)              HOST
  --block-duration <s>    lockout after 3 wrong passwords, seconds (60)       BLOCK_DURATION
  --timeout <s>           inactivity logout, seconds (120)                    TIMEOUT
  --credentials <file>    credentials file (./credentials.txt)                CREDENTIALS_FILE
  --data-dir <dir>        embedded database directory (./data)                DATA_DIR
  --database-url <url>    use this PostgreSQL server instead of the embedded  DATABASE_URL
  --ping-interval <s>     keep-alive comment on event streams (15)            PING_INTERVAL
  --password-hash-cost <n> scrypt N, a power of two (16384)                   PASSWORD_HASH_COST
  --stream-buffer <bytes> per-stream buffer before a slow reader is cut off   STREAM_BUFFER_BYTES
  --log-level <level>     fatal|error|warn|info|debug|trace|silent (info)     LOG_LEVEL
  --cors-origin <origin>  origin whose pages may call the API; repeatable,    CORS_ORIGINS
                          or a comma-separated list; * for any (default none)
  --rate-limit <n>        authenticated requests per minute per user (6000)   RATE_LIMIT
  --address-rate-limit <n> requests per minute per client address (12000)     ADDRESS_RATE_LIMIT
  --login-rate-limit <n>  login attempts per minute per username (60)         LOGIN_RATE_LIMIT
  --login-address-rate-limit <n> login attempts per minute per address (600)  LOGIN_ADDRESS_RATE_LIMIT
                          rate limits are counted per instance; 0 turns one off
  JWT_SECRET              token signing secret (default: generated once, kept in the database)`;

const seconds = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of seconds` })
    .refine((value) => Number.isFinite(value) && value > 0, `${name} must be a positive number of seconds`);

const perMinute = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of requests per minute` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0 (off) or more`);

const schema = z.object({
  port: z.coerce
    .number({ error: "port must be a number" })
    .int("port must be a whole number")
    .min(0, "port must be between 0 and 65535")
    .max(65535, "port must be between 0 and 65535"),
  host: z.string().min(1, "host must not be empty"),
  blockDurationSeconds: seconds("block_duration"),
  timeoutSeconds: seconds("timeout"),
  credentialsFile: z.string().min(1, "credentials must name a file"),
  dataDir: z.string().min(1, "data-dir must name a directory"),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "database-url must start with postgres:// or postgresql://")
    .optional(),
  jwtSecret: z.string().min(32, "JWT_SECRET must be at least 32 characters").optional(),
  pingIntervalSeconds: seconds("ping-interval"),
  passwordHashCost: z.coerce
    .number({ error: "password-hash-cost must be a number" })
    .int()
    .refine((n) => n >= 2 && n <= 2 ** 20 && (n & (n - 1)) === 0, "password-hash-cost must be a power of two up to 1048576"),
  streamBufferBytes: z.coerce
    .number({ error: "stream-buffer must be a number of bytes" })
    .int()
    .min(4096, "stream-buffer must be at least 4096 bytes"),
  logLevel: z.enum(LOG_LEVELS, { error: `log-level must be one of ${LOG_LEVELS.join(", ")}` }),
  corsOrigins: z.array(
    z.string().transform((value, context) => {
      if (value === "*") return value;
      const origin = URL.canParse(value) ? new URL(value).origin : "null";
      if (origin === "null" || value.replace(/\/$/, "") !== origin) {
        context.addIssue({
          code: "custom",
          message: `cors-origin "${value}" must be an origin like https://chat.example.com (scheme, host, optional port; no path) or *`,
        });
        return z.NEVER;
      }
      return origin;
    }),
  ),
  rateLimitPerUser: perMinute("rate-limit"),
  rateLimitPerAddress: perMinute("address-rate-limit"),
  loginRateLimitPerUsername: perMinute("login-rate-limit"),
  loginRateLimitPerAddress: perMinute("login-address-rate-limit"),
});

/** Reads flags, then positional arguments, then environment variables, then defaults. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "block-duration": { type: "string" },
        timeout: { type: "string" },
        credentials: { type: "string" },
        "data-dir": { type: "string" },
        "database-url": { type: "string" },
        "ping-interval": { type: "string" },
        "password-hash-cost": { type: "string" },
        "stream-buffer": { type: "string" },
        "log-level": { type: "string" },
        "cors-origin": { type: "string", multiple: true },
        "rate-limit": { type: "string" },
        "address-rate-limit": { type: "string" },
        "login-rate-limit": { type: "string" },
        "login-address-rate-limit": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new ConfigError(USAGE);
  if (positionals.length > 3) {
    throw new ConfigError(`unexpected argument "${positionals[3]}": at most [port] [block_duration] [timeout]\n${USAGE}`);
  }
  const [positionalPort, positionalBlock, positionalTimeout] = positionals;
  const pick = (...candidates: (string | undefined)[]) => candidates.find((value) => value !== undefined && value !== "");

  const result = schema.safeParse({
    port: pick(values.port, positionalPort, env.PORT, "4000"),
    host: pick(values.host, env.HOST, "0.0.0.0"),
    blockDurationSeconds: pick(values["block-duration"], positionalBlock, env.BLOCK_DURATION, "60"),
    timeoutSeconds: pick(values.timeout, positionalTimeout, env.TIMEOUT, "120"),
    credentialsFile: pick(values.credentials, env.CREDENTIALS_FILE, "./credentials.txt"),
    dataDir: pick(values["data-dir"], env.DATA_DIR, "./data"),
    databaseUrl: pick(values["database-url"], env.DATABASE_URL),
    jwtSecret: pick(env.JWT_SECRET),
    pingIntervalSeconds: pick(values["ping-interval"], env.PING_INTERVAL, "15"),
    passwordHashCost: pick(values["password-hash-cost"], env.PASSWORD_HASH_COST, "16384"),
    streamBufferBytes: pick(values["stream-buffer"], env.STREAM_BUFFER_BYTES, String(256 * 1024)),
    logLevel: pick(values["log-level"], env.LOG_LEVEL, "info"),
    corsOrigins: splitList(values["cors-origin"]?.join(",") ?? env.CORS_ORIGINS),
    rateLimitPerUser: pick(values["rate-limit"], env.RATE_LIMIT, "6000"),
    rateLimitPerAddress: pick(values["address-rate-limit"], env.ADDRESS_RATE_LIMIT, "12000"),
    loginRateLimitPerUsername: pick(values["login-rate-limit"], env.LOGIN_RATE_LIMIT, "60"),
    loginRateLimitPerAddress: pick(values["login-address-rate-limit"], env.LOGIN_ADDRESS_RATE_LIMIT, "600"),
  });
  if (!result.success) {
    const messages = result.error.issues.map((issue) => issue.message);
    throw new ConfigError(`${messages.join("; ")}\n${USAGE}`);
  }
  return result.data;
}

/** "a, b c" -> ["a", "b", "c"]: a list given with commas or spaces. */
const splitList = (value: string | undefined) => (value ?? "").split(/[\s,]+/).filter((item) => item !== "");
