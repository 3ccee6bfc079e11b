/**
 * The database's ceiling: plain postgres.js writing the rows one accepted direct message
 * makes, with `concurrency` writers back to back, in its own process so its CPU is its own.
 * Usage: node --import tsx bench/baselines/pg-insert.ts <database-url> <concurrency> <seconds> <users> <text-bytes>
 * Prints one JSON line per mode.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { nowMs } from "../load/clock.js";
import { Samples } from "../report.js";
import { CpuMeter } from "../resource-usage.js";
import { repoRoot } from "../server-process.js";

const [url, concurrencyArg, secondsArg, usersArg, textBytesArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: pg-insert.ts <database-url> <concurrency> <seconds> <users> <text-bytes>");
  process.exit(2);
}
const concurrency = Number(concurrencyArg ?? 50);
const durationMs = Number(secondsArg ?? 3) * 1000;
const userCount = Number(usersArg ?? 100);
const text = "x".repeat(Number(textBytesArg ?? 100));

const sql = postgres(url, { max: concurrency, onnotice: () => {} });

/** The schema the service itself runs on, from its drizzle migrations. */
async function migrate(): Promise<void> {
  const journal = JSON.parse(readFileSync(join(repoRoot, "drizzle/meta/_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  for (const { tag } of journal.entries) {
    const file = readFileSync(join(repoRoot, "drizzle", `${tag}.sql`), "utf8");
    for (const statement of file.split("--> statement-breakpoint")) if (statement.trim()) await sql.unsafe(statement);
  }
  const users = Array.from({ length: userCount }, (_, index) => ({ username: `u${index}`, password_hash: "!" }));
  await sql`insert into users ${sql(users)}`;
}

/** Messages per transaction in the batched mode: what a server that groups commits could reach. */
const BATCH = 32;
const BATCH_WRITERS = Math.min(concurrency, 4);

/** Writes one message (or, batched, BATCH of them) and resolves with how many it wrote. */
type Write = (sender: string, recipient: string, writer: number, seq: number) => Promise<unknown>;

const modes: { name: string; write: Write; writers?: number }[] = [
  {
    name: "message row (one insert, autocommit)",
    write: (sender, recipient) =>
      sql`insert into messages (sender, recipient, text) values (${sender}, ${recipient}, ${text}) returning id, sent_at`,
  },
  {
    name: "message + event rows and the recipient's event counter (one transaction)",
    write: (sender, recipient) =>
      sql.begin(async (tx) => {
        const [counter] = await tx<{ last_event_id: string }[]>`
          update users set last_event_id = last_event_id + 1 where username = ${recipient} returning last_event_id`;
        const [message] = await tx<{ id: string; sent_at: Date }[]>`
          insert into messages (sender, recipient, text) values (${sender}, ${recipient}, ${text}) returning id, sent_at`;
        const data = { id: Number(message!.id), from: sender, to: recipient, text, sentAt: message!.sent_at.toISOString() };
        await tx`insert into events (username, id, type, data) values (${recipient}, ${counter!.last_event_id}, 'message', ${tx.json(data)})`;
      }),
  },
  {
    name: `the same rows, ${BATCH} messages per transaction (multi-row statements)`,
    writers: BATCH_WRITERS,
    write: (sender, _recipient, writer, seq) =>
      sql.begin(async (tx) => {
        // BATCH distinct recipients, so one counter update covers them all.
        const recipients = Array.from(
          { length: Math.min(BATCH, userCount) },
          (_, k) => `u${(writer * 7 + seq * BATCH + k) % userCount}`,
        ).sort();
        // Lock in name order, as the service does, so overlapping batches cannot deadlock.
        await tx`select username from users where username = any(${recipients}) order by username for no key update`;
        const counters = await tx<{ username: string; last_event_id: string }[]>`
          update users set last_event_id = last_event_id + 1 where username = any(${recipients}) returning username, last_event_id`;
        const messages = await tx<{ id: string; recipient: string; sent_at: Date }[]>`
          insert into messages ${tx(recipients.map((recipient) => ({ sender, recipient, text })))} returning id, recipient, sent_at`;
        const eventIds = new Map(counters.map((row) => [row.username, row.last_event_id]));
        const rows = messages.map((message) => ({
          username: message.recipient,
          id: eventIds.get(message.recipient)!,
          type: "message",
          data: tx.json({
            id: Number(message.id),
            from: sender,
            to: message.recipient,
            text,
            sentAt: message.sent_at.toISOString(),
          }),
        }));
        await tx`insert into events ${tx(rows)}`;
        return recipients.length;
      }),
  },
];

async function run(write: Write, writers = concurrency, runMs = durationMs) {
  const latency = new Samples();
  const startedAt = nowMs();
  const until = startedAt + runMs;
  let count = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      for (let seq = 0; nowMs() < until; seq++) {
        const began = nowMs();
        const written = await write(`u${writer % userCount}`, `u${(writer + seq + 1) % userCount}`, writer, seq);
        latency.add(nowMs() - began);
        count += typeof written === "number" ? written : 1;
      }
    }),
  );
  const elapsedMs = nowMs() - startedAt;
  return { count, elapsedMs, perSecond: (1000 * count) / elapsedMs, latency: latency.summary() };
}

await migrate();
await run(modes[1]!.write, concurrency, 500); // warm the pool and the caches
for (const mode of modes) {
  const meter = new CpuMeter(undefined);
  const figures = await run(mode.write, mode.writers);
  console.log(JSON.stringify({ mode: mode.name, concurrency: mode.writers ?? concurrency, ...figures, cpu: meter.stop() }));
}
await sql.end({ timeout: 5 });
