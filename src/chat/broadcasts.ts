import { sql } from "drizzle-orm";
import { bareColumn as bare, queryRows, type Transaction } from "../db/client.js";
import { blocks, broadcasts, sessions, users } from "../db/schema.js";
import type { ChatContext } from "./context.js";
import { appendEventSteps, broadcastView, lockedUsersQuery } from "./event-log.js";
import type { Hub } from "./hub.js";
import { findReplay, keyedRequest, sendOnce } from "./idempotency.js";

const SOME_SKIPPED = "Your message could not be delivered to some recipients";

export type SentBroadcast = {
  id: number;
  from: string;
  text: string;
  sentAt: string;
  recipients: number;
  allDelivered: boolean;
  detail?: string;
};

/**
 * broadcast: to every online user but the sender and those who blocked the sender; never stored for
 * offline users. A retry under the same idempotency key answers the first response and sends nothing.
 */
export async function sendBroadcast(context: ChatContext, from: string, text: string, idempotencyKey?: string) {
  const { db, hub } = context;
  const keyed = keyedRequest(from, idempotencyKey, "POST /broadcasts", { text }, context.settings.idempotencyKeyTtlSeconds);
  const replay = await findReplay<SentBroadcast>(db, keyed);
  if (replay) return replay;
  const sentAt = new Date();
  const result = await sendOnce(db, keyed, async (tx) => {
    const { id, skipped, events } = await storeBroadcast(hub, tx, from, text, sentAt);
    const view = broadcastView({ id, sender: from, text, sentAt });
    const allDelivered = skipped === 0;
    const response: SentBroadcast = {
      ...view,
      recipients: events.length,
      allDelivered,
      ...(allDelivered ? {} : { detail: SOME_SKIPPED }),
    };
    return {
      response,
      events: events.map(({ username, id: eventId }) => ({
        username,
        event: { id: eventId, type: "broadcast" as const, data: view },
      })),
    };
  });
  if (result.replayed) return result.response;
  for (const { username, event } of result.events) hub.publish(username, event);
  context.telemetry?.broadcastAccepted(result.response.recipients);
  return result.response;
}

/**
 * Stores the broadcast and one event referring to it for each online user but the sender and
 * those who blocked the sender, in one statement: the recipients' rows are locked in name order
 * and their events numbered by the event log's steps. Answers the broadcast's id, how many online
 * users were skipped as blockers, and each recipient's event id.
 */
async function storeBroadcast(hub: Hub, tx: Transaction, from: string, text: string, sentAt: Date) {
  const online = sql`exists (select 1 from ${sessions} where ${sessions.username} = ${users.username} and ${sessions.endedAt} is null)
                     and ${users.username} <> ${from}`;
  const blocker = sql`exists (select 1 from ${blocks} where ${blocks.blocker} = ${users.username} and ${blocks.blocked} = ${from})`;
  const rows = await queryRows<{
    broadcast_id: number | string;
    skipped: number | string;
    username: string | null;
    event_id: number | string | null;
  }>(
    tx,
    sql`with recipient as materialized (${lockedUsersQuery(sql`${online} and not ${blocker}`)}),
        stored_broadcast as (
          insert into ${broadcasts} (${bare(broadcasts.sender)}, ${bare(broadcasts.text)}, ${bare(broadcasts.sentAt)}, ${bare(broadcasts.recipientCount)})
          select ${from}, ${text}, ${sentAt.toISOString()}::timestamptz, count(*) from recipient
          returning ${broadcasts.id} as id
        ),
        pending as (
          select r.username, 0 as ord, 'broadcast' as type, null::bigint as message_id, b.id as broadcast_id, null::jsonb as data
          from recipient r cross join stored_broadcast b
        ),
        ${appendEventSteps(hub.commitNotices, sql`pending`)}
        select b.id as broadcast_id, (select count(*) from ${users} where ${online} and ${blocker}) as skipped,
               n.username, n.event_id
        from stored_broadcast b left join numbered_events n on true
        order by n.username`,
  );
  const [first] = rows;
  if (!first) throw new Error("broadcast insert returned nothing");
  return {
    id: Number(first.broadcast_id),
    skipped: Number(first.skipped),
    events: rows.flatMap(({ username, event_id }) =>
      username === null || event_id === null ? [] : [{ username, id: Number(event_id) }],
    ),
  };
}
