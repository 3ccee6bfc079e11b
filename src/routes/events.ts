import { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { openEventStream, type EventStreamOptions } from "../chat/event-stream.js";
import { alreadySent } from "../http/node-response.js";
import { requireSession } from "../http/auth.js";
import { responseSink, webStreamSink } from "../http/stream-sink.js";
import { bearerSecurity, createRouter, problemResponses } from "../http/router.js";

const EventsQuery = z.object({
  access_token: z.string().optional().openapi({
    description: "The bearer token, for clients that cannot send headers (browser EventSource). Never logged.",
  }),
  lastEventId: z.string().optional().openapi({
    description: "Resume after this event id, like the Last-Event-ID header (the header wins).",
    example: "41",
  }),
});

const EventsHeaders = z.object({
  "last-event-id": z.string().optional().openapi({ description: "Resume after this durable event id.", example: "41" }),
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
    "The stream starts with `retry:`, sends `: ping` comments at least every 15 s, ends with `session_ended` on logout or timeout, ",
    "and is cut off if the reader falls more than the buffer bound (256 KiB by default) behind; reconnect with the last id seen. ",
    "Opening a stream is not activity for the inactivity timeout. Several streams per session may be open.",
  ].join(""),
  security: bearerSecurity,
  request: { query: EventsQuery, headers: EventsHeaders },
  responses: {
    200: {
      description:
        "text/event-stream. Data of each event: message `{id, from, to, text, sentAt}`; broadcast `{id, from, text, sentAt}`; " +
        "private_started `{from, address:{host, port}|null, secret}` (the session's secret, the same the starter got from POST /private); private_stopped `{from, reason}`; presence `{username, status, at}`; " +
        "session_ended `{reason}`; resync `{reason, lastEventId}`.",
      content: {
        "text/event-stream": {
          schema: z.string().openapi({
            example:
              'id: 3\nevent: message\ndata: {"id":12,"from":"hans","to":"luke","text":"Hey Dude","sentAt":"2026-11-25T14:00:00.000Z"}\n\n',
          }),
        },
      },
    },
    ...problemResponses(400, 401),
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
      retryMs: 1000,
      telemetry: context.telemetry,
      requestId: c.get("requestId"),
    };
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    };
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing instanceof ServerResponse) {
      // On node:http the stream writes to the response itself, which thousands of idle streams
      // make worth it: no web stream and no reader loop per connection. The head carries every
      // header set so far (request id, CORS); hono's CORS adds Vary only after the handler.
      const draft = c.body(null, 200, headers).headers;
      if (draft.has("access-control-allow-origin") && draft.get("access-control-allow-origin") !== "*")
        draft.append("vary", "Origin");
      outgoing.writeHead(200, Object.fromEntries(draft));
      openEventStream(options, responseSink(outgoing));
      return alreadySent();
    }
    const { readable, connect } = webStreamSink(options.bufferBytes);
    openEventStream(options, connect);
    return c.body(readable, 200, headers);
  });
}
