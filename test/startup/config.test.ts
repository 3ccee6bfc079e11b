import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { defaultMaxConnections } from "../../src/http/connection-limit.js";
import { openFileLimit } from "../../src/lib/open-file-limit.js";

/** The error loadConfig throws for these arguments (fails the test if it does not throw one). */
function configError(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(argv)}) did not throw`);
}

describe("loadConfig defaults", () => {
  it("listens on 4000 with a 60 s lockout and a 120 s inactivity timeout when told nothing", () => {
    expect(loadConfig([], {})).toMatchObject({
      port: 4000,
      host: "0.0.0.0",
      blockDurationSeconds: 60,
      timeoutSeconds: 120,
      credentialsFile: "./credentials.txt",
      dataDir: "./data",
      databaseUrl: undefined,
      jwtSecret: undefined,
      pingIntervalSeconds: 15,
      passwordHashCost: 131072,
      streamBufferBytes: 256 * 1024,
      maxStreamsPerSession: 5,
      maxConnections: undefined,
      eventRetentionSeconds: 7 * 24 * 3600,
    });
  });
});

describe("loadConfig positional arguments, like the original `server <port> <block_duration> <timeout>`", () => {
  it("reads port, block duration and timeout in that order", () => {
    expect(loadConfig(["5000", "30", "90"], {})).toMatchObject({ port: 5000, blockDurationSeconds: 30, timeoutSeconds: 90 });
  });

  it("accepts fewer than three and defaults the rest", () => {
    expect(loadConfig(["5000"], {})).toMatchObject({ port: 5000, blockDurationSeconds: 60, timeoutSeconds: 120 });
    expect(loadConfig(["5000", "10"], {})).toMatchObject({ port: 5000, blockDurationSeconds: 10, timeoutSeconds: 120 });
  });

  it("accepts fractional seconds for block duration and timeout", () => {
    expect(loadConfig(["5000", "0.5", "1.5"], {})).toMatchObject({ blockDurationSeconds: 0.5, timeoutSeconds: 1.5 });
  });
});

describe("loadConfig flags and environment", () => {
  it("reads every option from flags", () => {
    const config = loadConfig(
      [
        "--port",
        "5001",
        "--host",
        "127.0.0.1",
        "--block-duration",
        "2",
        "--timeout",
        "3",
        "--credentials",
        "/tmp/users.txt",
        "--data-dir",
        "/tmp/chat-data",
        "--database-url",
        "postgres://chat@db:5432/chat",
        "--ping-interval",
        "5",
        "--password-hash-cost",
        "1024",
        "--stream-buffer",
        "8192",
        "--max-streams-per-session",
        "2",
        "--max-connections",
        "300",
        "--event-retention",
        "3600",
      ],
      {},
    );
    expect(config).toMatchObject({
      port: 5001,
      host: "127.0.0.1",
      blockDurationSeconds: 2,
      timeoutSeconds: 3,
      credentialsFile: "/tmp/users.txt",
      dataDir: "/tmp/chat-data",
      databaseUrl: "postgres://chat@db:5432/chat",
      pingIntervalSeconds: 5,
      passwordHashCost: 1024,
      streamBufferBytes: 8192,
      maxStreamsPerSession: 2,
      maxConnections: 300,
      eventRetentionSeconds: 3600,
    });
  });

  it("reads every option from environment variables", () => {
    const config = loadConfig([], {
      PORT: "4100",
      HOST: "::",
      BLOCK_DURATION: "5",
      TIMEOUT: "6",
      CREDENTIALS_FILE: "creds.txt",
      DATA_DIR: "state",
      DATABASE_URL: "postgresql://localhost/chat",
      JWT_SECRET: "x".repeat(32),
      PING_INTERVAL: "7",
      PASSWORD_HASH_COST: "2048",
      STREAM_BUFFER_BYTES: "4096",
      MAX_STREAMS_PER_SESSION: "3",
      MAX_CONNECTIONS: "500",
      EVENT_RETENTION: "86400",
    });
    expect(config).toMatchObject({
      port: 4100,
      host: "::",
      blockDurationSeconds: 5,
      timeoutSeconds: 6,
      credentialsFile: "creds.txt",
      dataDir: "state",
      databaseUrl: "postgresql://localhost/chat",
      jwtSecret: "x".repeat(32),
      pingIntervalSeconds: 7,
      passwordHashCost: 2048,
      streamBufferBytes: 4096,
      maxStreamsPerSession: 3,
      maxConnections: 500,
      eventRetentionSeconds: 86400,
    });
  });

  it("prefers flags over positionals over environment variables", () => {
    const env = { PORT: "4100", BLOCK_DURATION: "5", TIMEOUT: "6" };
    expect(loadConfig(["6000", "20", "30", "--port", "7000"], env)).toMatchObject({
      port: 7000,
      blockDurationSeconds: 20,
      timeoutSeconds: 30,
    });
    expect(loadConfig(["6000"], env)).toMatchObject({ port: 6000, blockDurationSeconds: 5, timeoutSeconds: 6 });
  });

  it("treats empty values as not given", () => {
    expect(loadConfig([""], { PORT: "", TIMEOUT: "" })).toMatchObject({ port: 4000, timeoutSeconds: 120 });
  });

  it("takes port 0 (pick a free port)", () => {
    expect(loadConfig(["0"], {}).port).toBe(0);
  });
});

describe("loadConfig refuses bad values, naming the argument", () => {
  it.each([
    ["a port that is not a number", ["abc"], /port must be a number/],
    ["a port over 65535", ["70000"], /port must be between 0 and 65535/],
    ["a fractional port", ["4000.5"], /port must be a whole number/],
    ["a block duration that is not a number", ["4000", "soon"], /block_duration must be a number/],
    ["a zero block duration", ["4000", "0"], /block_duration must be a positive number/],
    ["a negative block duration", ["--block-duration=-3"], /block_duration must be a positive number/],
    ["a timeout that is not a number", ["4000", "60", "later"], /timeout must be a number/],
    ["an infinite timeout", ["4000", "60", "Infinity"], /timeout must be a/],
    ["a fourth positional argument", ["4000", "60", "120", "extra"], /unexpected argument "extra"/],
    ["an unknown flag", ["--bogus"], /--bogus/],
    ["a flag without its value", ["--port"], /--port/],
    ["a database URL that is not PostgreSQL", ["--database-url", "mysql://localhost/chat"], /database-url/],
    ["a password hash cost that is not a power of two", ["--password-hash-cost", "1000"], /password-hash-cost/],
    ["a stream buffer under 4096 bytes", ["--stream-buffer", "100"], /stream-buffer/],
    ["no event streams per session", ["--max-streams-per-session", "0"], /max-streams-per-session must be at least 1/],
    ["a fractional connection cap", ["--max-connections", "10.5"], /max-connections must be a whole number/],
    ["an event retention of zero seconds", ["--event-retention", "0"], /event-retention/],
  ])("refuses %s", (_, argv, message) => {
    const error = configError(argv);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/usage:/);
  });

  it.each([
    ["PORT", { PORT: "http" }, /port must be a number/],
    ["BLOCK_DURATION", { BLOCK_DURATION: "-1" }, /block_duration/],
    ["TIMEOUT", { TIMEOUT: "0" }, /timeout/],
    ["JWT_SECRET", { JWT_SECRET: "too-short" }, /JWT_SECRET must be at least 32 characters/],
  ])("refuses a bad %s from the environment", (_, env, message) => {
    expect(configError([], env).message).toMatch(message);
  });

  it("names every bad argument at once", () => {
    const message = configError(["abc", "soon", "later"]).message;
    expect(message).toMatch(/port/);
    expect(message).toMatch(/block_duration/);
    expect(message).toMatch(/timeout/);
  });

  it("answers --help with the usage", () => {
    expect(configError(["--help"]).message).toMatch(/^usage: .*\[port\] \[block_duration\] \[timeout\]/);
  });
});

describe("the default connection cap", () => {
  it("is nine tenths of the open-file limit, leaving the rest for the database and for answering 503", () => {
    expect(defaultMaxConnections(1024)).toBe(921);
    expect(defaultMaxConnections(65536)).toBe(58982);
  });

  it("reads this process's open-file limit where it can (Linux), else assumes 1024", () => {
    expect(defaultMaxConnections()).toBe(Math.floor((openFileLimit() ?? 1024) * 0.9));
  });

  it.runIf(process.platform === "linux")("takes the soft open-file limit the shell reports for this process", () => {
    // A child inherits this process's limits; `ulimit -Sn` prints the soft one, or "unlimited".
    const reported = execFileSync("sh", ["-c", "ulimit -Sn"], { encoding: "utf8" }).trim();
    expect(openFileLimit()).toBe(reported === "unlimited" ? undefined : Number(reported));
  });
});

describe("--nats-url", () => {
  const pg = ["--database-url", "postgres://chat@db.example/chat"];

  it("is off by default: the PostgreSQL hub (or one instance) as before", () => {
    expect(loadConfig(pg, {}).natsUrl).toEqual([]);
  });

  it("takes the servers of one NATS cluster from the flag or a comma-separated NATS_URL", () => {
    expect(loadConfig([...pg, "--nats-url", "nats://10.0.0.1:4222", "--nats-url", "nats://10.0.0.2:4222"], {}).natsUrl).toEqual([
      "nats://10.0.0.1:4222",
      "nats://10.0.0.2:4222",
    ]);
    expect(loadConfig(pg, { NATS_URL: "nats://a:4222,tls://b:4222" }).natsUrl).toEqual(["nats://a:4222", "tls://b:4222"]);
  });

  it("refuses the embedded database, which is one instance", () => {
    const message = configError(["--nats-url", "nats://127.0.0.1:4222"]).message;
    expect(message).toMatch(/nats-url needs database-url/);
    expect(message).toMatch(/PGlite/);
    expect(configError([], { NATS_URL: "nats://127.0.0.1:4222" }).message).toMatch(/nats-url needs database-url/);
  });

  it("refuses a server that is not a nats:// or tls:// URL", () => {
    expect(configError([...pg, "--nats-url", "http://127.0.0.1:4222"]).message).toMatch(/nats-url must list servers/);
  });
});
