import { sql } from "drizzle-orm";
import { storeMessages, type MessageSend } from "../src/chat/messages.js";
import { loadConfig } from "../src/config.js";
import { openPostgres } from "../src/db/client.js";
import { createChatContext } from "../src/server.js";
import { createScratchDatabase } from "./database.js";
import { nowMs } from "./load/clock.js";
import { cpuMsPerOperation } from "./report.js";
import { CpuMeter } from "./resource-usage.js";

/** PostgreSQL's cost of one message batch statement with `users` accounts, each online. */
type TableSizePoint = {
  users: number;
  batchSize: number;
  batches: number;
  /** PostgreSQL CPU per batch, in µs. */
  postgresUsPerBatch: number;
  /** Wall time per batch, one after another on one connection, in µs. */
  wallUsPerBatch: number;
};

export type TableSizeResult = { database: string; points: TableSizePoint[] };

/**
 * For each count of users: a scratch database holding that many accounts, each with a live session
 * and three ended ones (earlier logins), then message batches of each size, one after another on
 * one connection, for `seconds` each, to recipients spread over all users. What PostgreSQL spends
 * per batch should not grow with the users table: each batch touches only its own users' rows.
 */
export async function measureTableSize(options: {
  databaseUrl: string;
  runId: string;
  userCounts: readonly number[];
  batchSizes: readonly number[];
  seconds: number;
  textBytes: number;
  log: (line: string) => void;
}): Promise<TableSizeResult> {
  const points: TableSizePoint[] = [];
  let database = "";
  for (const users of options.userCounts) {
    const scratch = await createScratchDatabase(options.databaseUrl, `bench_tables_${options.runId}_${users}`);
    // One connection: the batches run one after another, as an idle service's do.
    const handle = await openPostgres(scratch.url, { max: 1 });
    database = handle.description.replace(/\/[^/]*$/, "");
    const chat = await createChatContext(handle, loadConfig([], {}));
    try {
      await handle.db.execute(
        sql`insert into users (username, password_hash) select 'user' || n, md5(n::text) from generate_series(1, ${users}) as n`,
      );
      await handle.db.execute(
        sql`insert into sessions (username, ended_at, end_reason)
            select 'user' || n, now(), 'logout' from generate_series(1, ${users}) as n, generate_series(1, 3)`,
      );
      await handle.db.execute(sql`insert into sessions (username) select 'user' || n from generate_series(1, ${users}) as n`);
      // What a service whose users logged in leaves; the message tables are as a new service has them.
      await handle.db.execute(sql`analyze users, sessions`);
      const text = "x".repeat(options.textBytes);
      let sent = 0;
      const batch = (size: number): MessageSend[] =>
        Array.from({ length: size }, () => {
          sent++;
          // Spread over the table, a stride that is no factor of the counts used.
          return { from: `user${(sent % users) + 1}`, to: `user${((sent * 7919) % users) + 1}`, text, sentAt: new Date() };
        });
      for (const batchSize of options.batchSizes) {
        // Warm up: the connection prepares the statement, and PostgreSQL settles on the plan it keeps.
        for (let round = 0; round < 20; round++) await storeMessages(chat.context.hub, handle.db, batch(batchSize));
        const meter = new CpuMeter(undefined);
        const started = nowMs();
        let batches = 0;
        while (nowMs() - started < options.seconds * 1000) {
          await storeMessages(chat.context.hub, handle.db, batch(batchSize));
          batches++;
        }
        const share = meter.stop();
        const point = {
          users,
          batchSize,
          batches,
          postgresUsPerBatch: cpuMsPerOperation(share, share.postgres, batches) * 1000,
          wallUsPerBatch: (share.wallMs * 1000) / batches,
        };
        points.push(point);
        options.log(`  ${users} users, batches of ${batchSize}: PostgreSQL ${point.postgresUsPerBatch.toFixed(0)} µs per batch`);
      }
    } finally {
      await chat.stop();
      await handle.close();
      await scratch.drop();
    }
  }
  return { database, points };
}

export function tableSizeMarkdown(result: TableSizeResult, startedAt: Date, command: string): string {
  const sizes = [...new Set(result.points.map((point) => point.batchSize))];
  const counts = [...new Set(result.points.map((point) => point.users))];
  const cell = (users: number, batchSize: number) => {
    const point = result.points.find((candidate) => candidate.users === users && candidate.batchSize === batchSize);
    return point
      ? `${point.postgresUsPerBatch.toFixed(0)} µs (${(point.postgresUsPerBatch / batchSize).toFixed(0)} per message), wall ${point.wallUsPerBatch.toFixed(0)} µs`
      : "";
  };
  return [
    "## PostgreSQL CPU per message batch against the number of users",
    "",
    `Run ${startedAt.toISOString()}: \`${command}\` on ${result.database}.`,
    "",
    "PostgreSQL CPU per message batch statement (all its processes), batches one after another on one connection; every user online.",
    "",
    `| users | ${sizes.map((size) => `batch of ${size}`).join(" | ")} |`,
    `| --- | ${sizes.map(() => "---").join(" | ")} |`,
    ...counts.map((users) => `| ${users.toLocaleString("en-US")} | ${sizes.map((size) => cell(users, size)).join(" | ")} |`),
    "",
  ].join("\n");
}
