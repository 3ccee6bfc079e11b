import { sql } from "drizzle-orm";
import { sendBroadcast } from "../src/chat/broadcasts.js";
import { loadConfig } from "../src/config.js";
import { jsonRows, openPglite, openPostgres, queryRows, type DatabaseHandle } from "../src/db/client.js";
import { createChatContext } from "../src/server.js";
import { createScratchDatabase, type ScratchDatabase } from "./database.js";

/** What `npm run bench -- --scenario storage` measures: bytes on disk for each stored delivery. */
export type StorageResult = {
  database: string;
  messages: number;
  broadcasts: number;
  broadcastRecipients: number;
  textBytes: number;
  bytesPerDirectMessage: number;
  bytesPerBroadcastRecipient: number;
};

/** The tables a delivery writes to, indexes and TOAST included. */
const STORAGE_TABLES = ["events", "messages", "broadcasts"];

async function storedBytes(handle: DatabaseHandle): Promise<number> {
  // A checkpoint-free figure: pages the relations occupy, read after the writes committed.
  const [row] = await queryRows<{ bytes: number | string }>(
    handle.db,
    sql`select sum(pg_total_relation_size(name::regclass))::bigint as bytes from unnest(${`{${STORAGE_TABLES.join(",")}}`}::text[]) as name`,
  );
  return Number(row?.bytes ?? 0);
}

/**
 * Sends `messages` direct messages (through the group-committing batcher, 256 in flight) and then
 * broadcasts to `broadcastRecipients` online users until as many deliveries were stored, measuring
 * pg_total_relation_size of events, messages and broadcasts before and after each phase. Runs the
 * domain in-process: what is measured is what the service stores, not the HTTP path.
 */
export async function measureStorage(options: {
  databaseUrl: string | undefined;
  runId: string;
  messages: number;
  broadcastRecipients: number;
  textBytes: number;
  log: (line: string) => void;
}): Promise<StorageResult> {
  let scratch: ScratchDatabase | undefined;
  let handle: DatabaseHandle;
  if (options.databaseUrl) {
    scratch = await createScratchDatabase(options.databaseUrl, `bench_storage_${options.runId}`);
    handle = await openPostgres(scratch.url);
  } else {
    handle = await openPglite();
  }
  const chat = await createChatContext(handle, loadConfig([], {}));
  try {
    const { context } = chat;
    const senders = Array.from({ length: 20 }, (_, index) => `sender${index}`);
    const recipients = Array.from({ length: options.broadcastRecipients }, (_, index) => `user${index}`);
    await handle.db.execute(
      sql`insert into users (username, password_hash)
          select username, 'x' from jsonb_to_recordset(${jsonRows([...senders, ...recipients].map((username) => ({ username })))}) as t(username text)`,
    );
    // Online recipients: a live session each, as a login would leave.
    await handle.db.execute(
      sql`insert into sessions (username) select username from jsonb_to_recordset(${jsonRows(recipients.map((username) => ({ username })))}) as t(username text)`,
    );
    const text = "x".repeat(options.textBytes);

    const beforeMessages = await storedBytes(handle);
    options.log(`  storage: ${options.messages} direct messages`);
    let next = 0;
    const sendSome = async () => {
      while (next < options.messages) {
        const index = next++;
        await context.batches.sendMessage({
          from: senders[index % senders.length] as string,
          to: recipients[index % recipients.length] as string,
          text,
          sentAt: new Date(),
        });
      }
    };
    await Promise.all(Array.from({ length: 256 }, sendSome));
    const afterMessages = await storedBytes(handle);

    const broadcasts = Math.max(1, Math.round(options.messages / options.broadcastRecipients));
    options.log(`  storage: ${broadcasts} broadcasts to ${options.broadcastRecipients} online users`);
    for (let index = 0; index < broadcasts; index++) await sendBroadcast(context, senders[0] as string, text);
    const afterBroadcasts = await storedBytes(handle);

    return {
      database: handle.description,
      messages: options.messages,
      broadcasts,
      broadcastRecipients: options.broadcastRecipients,
      textBytes: options.textBytes,
      bytesPerDirectMessage: (afterMessages - beforeMessages) / options.messages,
      bytesPerBroadcastRecipient: (afterBroadcasts - afterMessages) / (broadcasts * options.broadcastRecipients),
    };
  } finally {
    await chat.stop();
    await handle.close();
    await scratch?.drop();
  }
}

export function storageMarkdown(result: StorageResult, startedAt: Date, command: string): string {
  return [
    `Run ${startedAt.toISOString()}: \`${command}\` on ${result.database}.`,
    "",
    `Parameters: ${result.messages} direct messages (20 senders), ${result.broadcasts} broadcasts to ${result.broadcastRecipients} online users, text bytes ${result.textBytes}.`,
    "",
    "| stored delivery | bytes on disk (events + messages + broadcasts, indexes included) |",
    "| --- | --- |",
    `| per direct message | ${result.bytesPerDirectMessage.toFixed(1)} |`,
    `| per broadcast recipient | ${result.bytesPerBroadcastRecipient.toFixed(1)} |`,
    "",
  ].join("\n");
}
