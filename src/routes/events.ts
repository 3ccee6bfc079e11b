import { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { openEventStream, type EventStreamOptions } from "../chat/event-stream.js";
import { DURABLE_EVENT_TYPES, EVENT_DATA, type EventType } from "../chat/events.js";
import { handlerWritesResponse } from "../http/node-response.js";
import { requireSession } from "../http/auth.js";
import { responseSink, webStreamSink } from "../http/stream-sink.js";
import { bearerSecurity, createRouter, ProblemSchema, problemResponses } from "../http/router.js";
import { wellFormedString } from "./schemas.js";

const EventsQuery = z.object({
  access_token: wellFormedString().optional().openapi({
    description: "The bearer token, for clients that cannot send headers (browser EventSource). Never logged.",
  }),
  lastEventId: wellFormedString().optional().openapi({
    description: "Resume after this event id, like the Last-Event-ID header (the header wins).",
    example: "41",
  }),
});

const EventsHeaders = z.object({
  "last-event-id": wellFormedString().optional().openapi({ description: "Resume after this durable event id.", example: "41" }),
});

const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];
const isDurable = (type: EventType) => (DURABLE_EVENT_TYPES as readonly EventType[]).includes(type);
/** `private_started` -> `PrivateStarted`: its data schema is `PrivateStartedEvent`, its frame `PrivateStartedFrame`. */
const pascal = (type: EventType) => type.replace(/(?:^|_)(.)/g, (_match, letter: string) => letter.toUpperCase());
const dataSchemaNames = EVENT_TYPES.map((type) => `\`${type}\` → ${pascal(type)}Event`).join(", ");

/**
 * One SSE frame per event type, as an object of its fields (the shape OpenAPI 3.2's `itemSchema`
 * gives a stream): `event` names the type and discriminates, `data` is the JSON of the named schema.
 */
const frames = EVENT_TYPES.map((type) =>
  z
    .strictObject({
      event: z.literal(type),
      ...(isDurable(type)
        ? {
            id: z
              .string()
              .openapi({ description: "The durable event id (SSE `id:`): resume after it with Last-Event-ID.", example: "3" }),
          }
        : {}),
      data: EVENT_DATA[type],
    })
    .openapi(`${pascal(type)}Frame`, {
      description: `An \`event: ${type}\` frame (${isDurable(type) ? "durable, with `id:`" : "live only, no `id:`"}).`,
    }),
);

const [firstFrame, ...otherFrames] = frames;
const EventStreamFrame = z.discriminatedUnion("event", [firstFrame!, ...otherFrames]).openapi("EventStreamFrame", {
  description:
    "One event of the stream, each SSE field as a member: the `event:` line is `event`, the `id:` line (durable events only) is `id`, " +
    "and the `data:` line is `data`, JSON of the schema named for that event type: " +
    dataSchemaNames +
    ". Comments (`: ping`) and the opening `retry:` line carry no event.",
});

const eventsRoute = createRoute({
  method: "get",
  path: "/events",
  tags: ["Events"],
  summary: "My event stream (Server-Sent Events)",
  description: [
    "Durable events (`message`, `broadcast`, `private_started`, `private_stopped`) carry an `id:` that increases per user; ",
    "they are stored, and a reconnect with `Last-Event-ID` replays every one after it, then goes live, with no gap and no duplicate. ",
    "Without a resume id the stream starts after the last event I certainly received: the last id a reconnect of mine sent as Last-Event-ID, or the last event of a stream that lasted to the end of its session. ",
    "So messages stored while I was offline come first after login, and events written to a stream that dropped before I read them (and gave me no id to resume from) are sent again rather than lost. ",
    "Live-only events (`presence`, `session_ended`, `resync`) have no id and are never replayed; after a resume, re-read GET /users/online. ",
    "Presence notices are written in batches, so one arrives up to 20 ms after the login or logout, and later when many streams are open ",
    "(0.1 ms per open stream, at most 1 s; `at` is the exact time). ",
    "An unknown or malformed resume id gets `resync` (reason `unknown_event_id`) and the stream continues as if none were given. ",
    "Delivered events are kept for the server's event retention (`--event-retention`, 7 days by default); events not yet delivered are kept until they are. ",
    "A resume id whose following events were pruned gets `resync` (reason `events_pruned`), then every event still kept; the history stays in GET /messages. ",
    "The stream starts with `retry:`, sends `: ping` comments at least every 15 s, ends with `session_ended` on logout or timeout (a stream opened as its session ended gets it too), ",
    "and is cut off if the reader falls more than the buffer bound (256 KiB by default) behind; reconnect with the last id seen. ",
    "Opening a stream is not activity for the inactivity timeout. ",
    "A session may hold a few streams open at once on each instance (5 by default, `--max-streams-per-session`); one more gets `429` `too_many_streams` until one of them closes. ",
    "HEAD answers at once with the head a GET would get (after the same token check) and opens no stream.",
  ].join(""),
  security: bearerSecurity,
  request: { query: EventsQuery, headers: EventsHeaders },
  responses: {
    200: {
      description:
        "text/event-stream: a sequence of EventStreamFrame, each written as SSE lines (`id:` for durable events, `event:`, `data:` with one line of JSON). " +
        "The data of each event type has a schema of its own: " +
        dataSchemaNames +
        ". The private_started secret is the session's, the same the starter got from POST /private/{username}.",
      content: {
        "text/event-stream": {
          schema: EventStreamFrame,
          example:
            'retry: 1000\n\nid: 3\nevent: message\ndata: {"id":12,"from":"hans","to":"luke","text":"Hey Dude","sentAt":"2026-11-25T14:00:00.000Z"}\n\n' +
            'event: presence\ndata: {"username":"yoda","status":"online","at":"2026-11-25T14:00:01.000Z"}\n\n',
        },
      },
    },
    ...problemResponses(400, 401),
    429: {
      description:
        "Too many requests (`rate_limited`, see the other routes), or this session already holds the most event streams " +
        "allowed open on this instance (`too_many_streams`; 5 by default, `--max-streams-per-session`): close one, then retry",
      content: { "application/problem+json": { schema: ProblemSchema } },
    },
  },
});

export function eventRoutes(context: ChatContext) {
  const session = requireSession(context, { touch: false, allowQueryToken: true });
  return createRouter().openapi({ ...eventsRoute, middleware: [session] }, (c) => {
    const caller = c.get("caller");
    const options: EventStreamOptions = {
      db: context.db,
      hub: context.hub,
      cursor: context.cursor,
      username: caller.username,
      sessionId: caller.sessionId,
      lastEventId: c.req.valid("header")["last-event-id"] ?? c.req.valid("query").lastEventId,
      bufferBytes: context.settings.streamBufferBytes,
      maxStreamsPerSession: context.settings.maxStreamsPerSession,
      retryMs: 1000,
      telemetry: context.telemetry,
      requestId: c.get("requestId"),
    };
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
      "x-request-id": c.get("requestId"),
    };
    // HEAD gets the stream's head and no stream: node:http writes no body for it, so a stream would never end the answer.
    if (c.req.method === "HEAD") return c.body(null, 200, headers);
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    // Stryker disable next-line ConditionalExpression,BlockStatement: the web stream below writes the same bytes; this path saves memory per idle stream.
    if (outgoing instanceof ServerResponse) {
      // On node:http the stream writes to the response itself, which thousands of idle streams
      // make worth it: no web stream and no reader loop per connection. The head carries every
      // header set so far (CORS) and the request id; hono's CORS adds Vary only after the handler. It is
      // written on connecting, so a stream refused (too_many_streams) still gets its problem+json.
      openEventStream(options, (events) => {
        const draft = c.body(null, 200, headers).headers;
        if (draft.has("access-control-allow-origin") && draft.get("access-control-allow-origin") !== "*")
          draft.append("vary", "Origin");
        outgoing.writeHead(200, Object.fromEntries(draft));
        return responseSink(outgoing)(events);
      });
      return handlerWritesResponse(outgoing);
    }
    const { readable, connect } = webStreamSink(options.bufferBytes);
    openEventStream(options, connect);
    return c.body(readable, 200, headers);
  });
}
