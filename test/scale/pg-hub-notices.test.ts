import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonRows } from "../../src/db/client.js";
import { createLocalHub, type Subscriber } from "../../src/chat/hub.js";
import { createPostgresHub } from "../../src/chat/pg-hub.js";
import { commitNoticeQuery } from "../../src/chat/event-log.js";
import { waitUntil } from "../support/wait.js";
import { openTestDatabase } from "../support/database.js";

const onPostgres = Boolean(process.env.DATABASE_URL);

/** Collects the (user, id) pairs two hubs on one database tell each other, and every payload's size. */
describe.skipIf(!onPostgres)("event notices between instances (PostgreSQL hub)", () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let sender: Awaited<ReturnType<typeof createPostgresHub>>;
  let receiver: Awaited<ReturnType<typeof createPostgresHub>>;
  const heard = new Map<string, number>();
  const payloadBytes: number[] = [];
  /** What the receiving hub reports to /metrics (chat_bus_received_total), by kind. */
  const received = new Map<string, number>();
  const telemetry = {
    busPublished: () => {},
    busReceived: (kind: string, count: number) => received.set(kind, (received.get(kind) ?? 0) + count),
  };

  beforeAll(async () => {
    database = await openTestDatabase();
    const client = database.sql!;
    sender = await createPostgresHub(client, database.db, createLocalHub({ pingIntervalMs: 60_000 }), failOnError);
    const local = createLocalHub({ pingIntervalMs: 60_000 });
    receiver = await createPostgresHub(client, database.db, local, failOnError, telemetry);
    // Every user below has a stream on the receiving instance, which records what it is told.
    for (let index = 0; index < 600; index++) {
      const username = longName(index);
      const subscriber: Subscriber = {
        username,
        sessionId: `session-${index}`,
        deliver: () => {},
        notify: (id) => heard.set(username, Math.max(id, heard.get(username) ?? 0)),
        write: () => {},
        end: () => {},
      };
      local.attach(subscriber);
    }
    await client.listen("chat_hub", (payload) => payloadBytes.push(Buffer.byteLength(payload)));
  }, 60_000);
  afterAll(async () => {
    await sender?.stop();
    await receiver?.stop();
    await database?.close();
  });

  it("tells the other instance every user's new id, in notices PostgreSQL accepts, only once committed", async () => {
    const appended = Array.from({ length: 600 }, (_, index) => ({ username: longName(index), id: 1_000_000_000_000 + index }));
    const statement = sql`with appended as (select * from jsonb_to_recordset(${jsonRows(appended)}) as t(username text, id bigint))
                          ${commitNoticeQuery(sender.commitNotices!, sql.raw("appended"))}`;

    await database.db
      .transaction(async (tx) => {
        await tx.execute(statement);
        tx.rollback();
      })
      .catch(() => {});
    await sleep(300);
    expect(heard.size).toBe(0);

    await database.db.execute(statement);
    await waitUntil(() => heard.size === appended.length, "every user's notice", 5000);
    for (const { username, id } of appended) expect(heard.get(username)).toBe(id);
    // Counted per (user, id) entry, the unit a NATS message carries, whatever the notices' number.
    expect(received.get("event")).toBe(appended.length);
    // 600 names of 64 characters, most escaped to 6 bytes each in JSON: many notices, each under the limit.
    expect(payloadBytes.length).toBeGreaterThan(10);
    expect(Math.max(...payloadBytes)).toBeLessThan(8000);
  });
});

function failOnError(error: unknown): never {
  throw error;
}

/** A 64-character name (the longest allowed) whose JSON form is mostly \u escapes. */
function longName(index: number): string {
  return `${String(index).padStart(4, "0")}${"\u0001".repeat(60)}`;
}
