import { z } from "@hono/zod-openapi";

// The data of every event type, the one definition the builders below, the OpenAPI document and
// the schema test share. Strict objects: a field the stream sends but no schema names fails the test.

const sentAt = z
  .string()
  .openapi({ description: "When the server accepted it (ISO 8601).", example: "2026-11-25T14:00:00.000Z" });

const MessageEvent = z
  .strictObject({
    id: z.number().int().openapi({ description: "The message id (as in GET /messages), not the event id.", example: 42 }),
    from: z.string().openapi({ example: "hans" }),
    to: z.string().openapi({ example: "luke" }),
    text: z.string().openapi({ example: "Hey Dude" }),
    sentAt,
  })
  .openapi("MessageEvent", { description: "`event: message` (durable): someone sent me a direct message." });

const BroadcastEvent = z
  .strictObject({
    id: z.number().int().openapi({ description: "The broadcast id, not the event id.", example: 7 }),
    from: z.string().openapi({ example: "hans" }),
    text: z.string().openapi({ example: "Hello everyone" }),
    sentAt,
  })
  .openapi("BroadcastEvent", {
    description: "`event: broadcast` (durable): someone broadcast while I was online and not blocking them.",
  });

const PrivateStartedEvent = z
  .strictObject({
    from: z.string().openapi({ example: "hans" }),
    address: z
      .strictObject({ host: z.string().openapi({ example: "127.0.0.1" }), port: z.number().int().openapi({ example: 50123 }) })
      .nullable()
      .openapi({ description: "Where the starter listens for the peer connection; null when it gave no address." }),
    secret: z.string().openapi({
      description: "The private session's secret, the same the starter got from POST /private/{username}.",
      example: "3q2-7wYv1fJm0Xb9QeS8kT4uVhN6pLzA5cRdGiOyEjM",
    }),
  })
  .openapi("PrivateStartedEvent", { description: "`event: private_started` (durable): someone started a private chat with me." });

const PrivateStoppedEvent = z
  .strictObject({
    from: z.string().openapi({ example: "hans" }),
    reason: z.enum(["stopped", "logout", "timeout"]).openapi({ example: "stopped" }),
  })
  .openapi("PrivateStoppedEvent", { description: "`event: private_stopped` (durable): a private chat of mine ended." });

const PresenceEvent = z
  .strictObject({
    username: z.string().openapi({ example: "hans" }),
    status: z.enum(["online", "offline"]).openapi({ example: "online" }),
    at: z.string().openapi({ description: "When the login or logout happened (ISO 8601).", example: "2026-11-25T14:00:00.000Z" }),
  })
  .openapi("PresenceEvent", { description: "`event: presence` (live only): another user logged in or out." });

const SessionEndedEvent = z
  .strictObject({ reason: z.enum(["logout", "timeout"]).openapi({ example: "logout" }) })
  .openapi("SessionEndedEvent", {
    description: "`event: session_ended` (live only): my session ended; the stream closes right after.",
  });

const ResyncEvent = z
  .strictObject({
    reason: z.enum(["unknown_event_id", "events_pruned"]).openapi({
      description:
        "`unknown_event_id`: the resume id is unknown or malformed, the stream carries on as if none was given; " +
        "`events_pruned`: events after it were pruned (older than `--event-retention`), the stream replays every event still kept " +
        "and GET /messages holds what was in between.",
    }),
    lastEventId: z.string().openapi({ description: "The resume id the stream was given.", example: "abc" }),
  })
  .openapi("ResyncEvent", {
    description:
      "`event: resync` (live only): the stream cannot resume exactly where asked (the id is unknown or malformed, or events after it were pruned).",
  });

/** Each event type (the SSE `event:` field) and the schema of its `data:`. */
export const EVENT_DATA = {
  message: MessageEvent,
  broadcast: BroadcastEvent,
  private_started: PrivateStartedEvent,
  private_stopped: PrivateStoppedEvent,
  presence: PresenceEvent,
  session_ended: SessionEndedEvent,
  resync: ResyncEvent,
};

export type EventType = keyof typeof EVENT_DATA;
/** Events that are numbered per user, stored, and replayed on resume. */
export const DURABLE_EVENT_TYPES = ["message", "broadcast", "private_started", "private_stopped"] as const satisfies EventType[];
export type DurableEventType = (typeof DURABLE_EVENT_TYPES)[number];
/** Events sent only to streams open at the time; never stored, never numbered. */
export type LiveEventType = Exclude<EventType, DurableEventType>;

type EventData<Type extends EventType> = z.infer<(typeof EVENT_DATA)[Type]>;

/** A durable event before the log numbers it. */
export type DurableEventContent = { [Type in DurableEventType]: { type: Type; data: EventData<Type> } }[DurableEventType];
export type DurableEvent = DurableEventContent & { id: number };
export type LiveEvent = { [Type in LiveEventType]: { type: Type; data: EventData<Type> } }[LiveEventType];

export type SessionEndReason = EventData<"session_ended">["reason"];

/** A session's stored end reason as the `session_ended` event carries it, if it is one. */
export function asSessionEndReason(stored: string | null): SessionEndReason | undefined {
  const parsed = SessionEndedEvent.shape.reason.safeParse(stored);
  return parsed.success ? parsed.data : undefined;
}

const encoder = new TextEncoder();

/** A fan-out hands every recipient the same data object: serialise it once. */
const serialised = new WeakMap<object, string>();
function dataJson(data: object): string {
  let json = serialised.get(data);
  if (json === undefined) serialised.set(data, (json = JSON.stringify(data)));
  return json;
}

/** One SSE frame; durable events carry `id:` so a client's resume point moves only with them. */
export function encodeEvent(event: DurableEvent | LiveEvent): Uint8Array {
  const idLine = "id" in event ? `id: ${event.id}\n` : "";
  return encoder.encode(`${idLine}event: ${event.type}\ndata: ${dataJson(event.data)}\n\n`);
}

export const encodeComment = (text: string): Uint8Array => encoder.encode(`: ${text}\n\n`);
