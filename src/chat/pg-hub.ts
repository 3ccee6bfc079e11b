import { randomUUID } from "node:crypto";
import type postgres from "postgres";
import type { Database } from "../db/client.js";
import { listBlocked } from "./blocks.js";
import type { EventNotice } from "./event-log.js";
import type { LiveEvent, SessionEndReason } from "./events.js";
import type { Hub, LocalHub } from "./hub.js";
import type { ChatTelemetry } from "./telemetry.js";

const CHANNEL = "chat_hub";

type Notice =
  | EventNotice
  | { instance: string; kind: "presence"; subject: string; event: LiveEvent }
  | { instance: string; kind: "session"; username: string; sessionId: string; reason: SessionEndReason };

/**
 * The hub for several instances on one PostgreSQL server: local streams are served by the local
 * hub, and every instance tells the others through LISTEN/NOTIFY on a dedicated connection.
 * Event notices are sent inside the appending transaction, so they go out exactly when it
 * commits; they carry only (user, id), and a stream reads the log for anything past its last id.
 * When the LISTEN connection comes back after a drop, every local stream re-reads the log.
 */
export async function createPostgresHub(
  client: postgres.Sql,
  db: Database,
  local: LocalHub,
  onError: (error: unknown, what: string) => void,
  telemetry?: Pick<ChatTelemetry, "busPublished" | "busReceived">,
): Promise<Hub & { stop(): Promise<void> }> {
  const instance = randomUUID();
  let listening = false;

  const send = (notice: Notice) => client.notify(CHANNEL, JSON.stringify(notice));
  const warn = (error: unknown) => onError(error, "cross-instance notice failed");

  const receive = async (payload: string) => {
    const notice = JSON.parse(payload) as Notice;
    // Every instance hears every notice, its own too: that is the work this hub does per notice.
    telemetry?.busReceived(notice.kind === "events" ? "event" : notice.kind, notice.kind === "events" ? notice.events.length : 1);
    if (notice.instance === instance) return;
    if (notice.kind === "events") for (const [username, id] of notice.events) local.notify(username, id);
    else if (notice.kind === "session") local.endSession(notice.username, notice.sessionId, notice.reason);
    else local.announce(notice.event, notice.subject, new Set(await listBlocked(db, notice.subject)));
  };

  const subscription = await client.listen(
    CHANNEL,
    (payload) => void receive(payload).catch(warn),
    () => {
      // Called on every (re)connect: after a gap, notices may have been missed.
      if (listening) local.catchUpAll();
      listening = true;
    },
  );

  return {
    ...local,
    commitNotices: { channel: CHANNEL, instance },
    fanOut: () => ({ kind: "postgres", connected: true, description: "postgres listen/notify" }),
    publish(username, event) {
      // The notice itself went out with the commit (commitNotices); counted here, once per event.
      telemetry?.busPublished("event", 1);
      local.publish(username, event);
    },
    announce(event, subject, excluded) {
      local.announce(event, subject, excluded);
      telemetry?.busPublished("presence", 1);
      send({ instance, kind: "presence", subject, event }).catch(warn);
    },
    endSession(username, sessionId, reason) {
      local.endSession(username, sessionId, reason);
      telemetry?.busPublished("session", 1);
      send({ instance, kind: "session", username, sessionId, reason }).catch(warn);
    },
    async stop() {
      await subscription.unlisten().catch(() => {});
    },
  };
}
