import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { listMessages, sendMessage } from "../chat/messages.js";
import { requireSession } from "../http/auth.js";
import { authenticatedProblems, bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { IdempotencyHeaders, Message, MessageText, Username } from "./schemas.js";

const SendMessageBody = z.object({ to: Username, text: MessageText }).strict().openapi("SendMessageRequest");

const SentMessage = Message.extend({
  delivery: z.enum(["delivered", "stored"]).openapi({
    description:
      "`delivered`: the recipient is online and gets a `message` event now. `stored`: the recipient is offline; " +
      "the event waits in their log and arrives first on their next stream after login.",
  }),
}).openapi("SentMessage");

const sendRoute = createRoute({
  method: "post",
  path: "/messages",
  tags: ["Messages"],
  summary: "Send a direct message (message <user> <text>)",
  description: "Committed before the 201: it reaches the recipient exactly once, online, offline or reconnecting.",
  security: bearerSecurity,
  request: {
    headers: IdempotencyHeaders,
    body: { required: true, content: { "application/json": { schema: SendMessageBody } } },
  },
  responses: {
    201: { description: "Accepted", content: { "application/json": { schema: SentMessage } } },
    ...problemResponses(...authenticatedProblems, 403, 404, 422),
  },
});

const HistoryQuery = z.object({
  with: Username.optional().openapi({ description: "Only the conversation with this user." }),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .openapi({ description: "Messages with a smaller id (the previous page's `nextBefore`)." }),
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ example: 50 }),
});

const History = z
  .object({
    messages: z.array(Message),
    nextBefore: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Pass as `before` for the next (older) page; null on the last page." }),
  })
  .openapi("MessageHistory");

const historyRoute = createRoute({
  method: "get",
  path: "/messages",
  tags: ["Messages"],
  summary: "Message history, newest first",
  description: "Direct messages I sent or received (with `with`, only those between me and that user).",
  security: bearerSecurity,
  request: { query: HistoryQuery },
  responses: {
    200: { description: "A page of messages", content: { "application/json": { schema: History } } },
    ...problemResponses(400, 401, 404),
  },
});

export function messageRoutes(context: ChatContext) {
  const session = requireSession(context, { touch: true });
  return createRouter()
    .openapi({ ...sendRoute, middleware: [session] }, async (c) => {
      const { to, text } = c.req.valid("json");
      const idempotencyKey = c.req.valid("header")["idempotency-key"];
      return c.json(await sendMessage(context, c.get("caller").username, to, text, idempotencyKey), 201);
    })
    .openapi({ ...historyRoute, middleware: [session] }, async (c) => {
      return c.json(await listMessages(context.db, c.get("caller").username, c.req.valid("query")), 200);
    });
}
