import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { DurableEvent, LiveEvent, SessionEndReason } from "./events.js";
import type { Hub, LocalHub } from "./hub.js";
import type { BusNoticeKind, ChatTelemetry } from "./telemetry.js";

/**
 * A user's events go on a subject of their own. '.' separates NATS subject tokens and may be in a
 * username (see username.ts), so the name goes in as hex: one token of [0-9a-f].
 */
const userSubject = (username: string) => `chat.user.${Buffer.from(username, "utf8").toString("hex")}`;
/** Presence changes; every instance subscribes. */
const PRESENCE_SUBJECT = "chat.presence";
/** Session ends; every instance subscribes, since each one's session cache must hear of every end. */
const SESSION_SUBJECT = "chat.session-ended";

/** How often every stream re-reads the log while the NATS connection is down. */
const OFFLINE_READ_MS = 1000;

type PresenceNotice = { event: LiveEvent; subject: string; excluded: string[] };
type SessionNotice = { username: string; sessionId: string; reason: SessionEndReason };

export type NatsHubOptions = {
  /** Servers of one NATS cluster (nats://host:port). */
  servers: string[];
  local: LocalHub;
  telemetry?: Pick<ChatTelemetry, "busPublished" | "busReceived">;
  onError: (error: unknown, what: string) => void;
  /** Connection state changes, for the log. */
  onStatus?: (connected: boolean, message: string) => void;
};

/** The servers as the start-up line shows them: scheme, host and port, never credentials. */
const describeServers = (servers: readonly string[]) =>
  servers.map((server) => (URL.canParse(server) ? `${new URL(server).protocol}//${new URL(server).host}` : server)).join(",");

/**
 * The hub for several instances over NATS: local streams are served by the local hub; an instance
 * subscribes to a user's subject only while it holds a stream of that user, and a committed event
 * is published, after its commit, to its recipient's subject with the event itself, so the
 * receiving instance writes it without reading the log. The log stays the truth: a gap in ids makes
 * a stream read it (see event-stream.ts), and so do a reconnect, a slow-consumer status and, while
 * the connection is down, a timer every second.
 */
export async function createNatsHub(options: NatsHubOptions): Promise<Hub & { stop(): Promise<void> }> {
  const { local, telemetry, onError } = options;
  const nc: NatsConnection = await connect({
    servers: options.servers,
    name: "chat-service",
    // An instance does not hear its own publishes: it delivered them locally already.
    noEcho: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // A silently dead connection is noticed within ~15 s (then the log is read every second).
    pingInterval: 5000,
    maxPingOut: 2,
  });
  const description = `nats (${describeServers(options.servers)})`;
  let connected = true;
  let offlineTimer: NodeJS.Timeout | undefined;

  const warn = (what: string) => (error: unknown) => onError(error, what);
  const send = (kind: BusNoticeKind, subject: string, payload: unknown) => {
    try {
      nc.publish(subject, JSON.stringify(payload));
      telemetry?.busPublished(kind, 1);
    } catch (error) {
      // Closed (shutting down): the log still has every event.
      warn("NATS publish failed")(error);
    }
  };
  const listen = <Notice>(kind: BusNoticeKind, subject: string, receive: (notice: Notice) => void) =>
    nc.subscribe(subject, {
      callback: (error, message) => {
        if (error) return warn(`NATS subscription to ${subject} failed`)(error);
        telemetry?.busReceived(kind, 1);
        try {
          receive(message.json<Notice>());
        } catch (failure) {
          warn("NATS notice dropped")(failure);
        }
      },
    });

  /** Per user with a stream here: how many streams, and the subscription to their subject. */
  const interest = new Map<string, { streams: number; subscription: Subscription }>();
  const subscribeUser = (username: string) => {
    const subscription = listen<DurableEvent>("event", userSubject(username), (event) => local.publish(username, event));
    // The server learns of the interest asynchronously: an event published before it did went
    // nowhere, so once it has, the streams that attached meanwhile read the log.
    nc.flush().then(
      () => {
        if (interest.get(username)?.subscription === subscription) local.notify(username, Number.MAX_SAFE_INTEGER);
      },
      // Not connected: the reconnect makes every stream read the log.
      () => {},
    );
    return subscription;
  };

  listen<PresenceNotice>("presence", PRESENCE_SUBJECT, ({ event, subject, excluded }) =>
    local.announce(event, subject, new Set(excluded)),
  );
  listen<SessionNotice>("session", SESSION_SUBJECT, ({ username, sessionId, reason }) =>
    local.endSession(username, sessionId, reason),
  );

  const goOffline = () => {
    connected = false;
    offlineTimer ??= setInterval(() => local.catchUpAll(), OFFLINE_READ_MS);
    offlineTimer.unref();
  };
  const goOnline = () => {
    connected = true;
    clearInterval(offlineTimer);
    offlineTimer = undefined;
    // Whatever was published while the connection was down went nowhere.
    local.catchUpAll();
  };
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        goOffline();
        options.onStatus?.(false, `NATS connection to ${status.server} lost: streams read the event log every second`);
      } else if (status.type === "reconnect") {
        goOnline();
        options.onStatus?.(true, `NATS connection back (${status.server}): streams read the event log once`);
      } else if (status.type === "slowConsumer") {
        // Messages were dropped for this client: read the log.
        local.catchUpAll();
        options.onStatus?.(connected, "NATS slow consumer: streams read the event log once");
      }
    }
  })().catch(warn("NATS status watch failed"));

  return {
    ...local,
    fanOut: () => ({ kind: "nats", connected, description }),
    attach(subscriber) {
      const detach = local.attach(subscriber);
      const { username } = subscriber;
      let entry = interest.get(username);
      if (!entry) interest.set(username, (entry = { streams: 0, subscription: subscribeUser(username) }));
      entry.streams++;
      const held = entry;
      let attached = true;
      return () => {
        if (!attached) return;
        attached = false;
        detach();
        if (--held.streams > 0) return;
        interest.delete(username);
        // After stop() the connection is closed and every subscription with it.
        if (!nc.isClosed()) held.subscription.unsubscribe();
      };
    },
    publish(username, event) {
      local.publish(username, event);
      send("event", userSubject(username), event);
    },
    announce(event, subject, excluded) {
      local.announce(event, subject, excluded);
      send("presence", PRESENCE_SUBJECT, { event, subject, excluded: [...excluded] } satisfies PresenceNotice);
    },
    endSession(username, sessionId, reason) {
      local.endSession(username, sessionId, reason);
      send("session", SESSION_SUBJECT, { username, sessionId, reason } satisfies SessionNotice);
    },
    async stop() {
      clearInterval(offlineTimer);
      offlineTimer = undefined;
      // Sends what is buffered, then closes; a connection that is down just closes.
      await nc.drain().catch(() => nc.close());
    },
  };
}
