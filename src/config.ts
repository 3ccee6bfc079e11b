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
};

export class ConfigError extends Error {}

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
  JWT_SECRET              token signing secret (default: generated once, kept in the database)`;

const seconds = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of seconds` })
    .refine((value) => Number.isFinite(value) && value > 0, `${name} must be a positive number of seconds`);

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
  });
  if (!result.success) {
    const messages = result.error.issues.map((issue) => issue.message);
    throw new ConfigError(`${messages.join("; ")}\n${USAGE}`);
  }
  return result.data;
}
