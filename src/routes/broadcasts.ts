import { createRoute, z } from "@hono/zod-openapi";
import { sendBroadcast } from "../chat/broadcasts.js";
import type { ChatContext } from "../chat/context.js";
import { requireSession } from "../http/auth.js";
import { authenticatedProblems, bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { IdempotencyHeaders, MessageText } from "./schemas.js";

const BroadcastBody = z.object({ text: MessageText }).strict().openapi("BroadcastRequest");

const BroadcastResult = z
  .object({
    id: z.number().int().openapi({ example: 7 }),
    from: z.string().openapi({ example: "hans" }),
    text: z.string().openapi({ example: "Hello everyone" }),
    sentAt: z.string().openapi({ example: "2026-11-25T14:00:00.000Z" }),
    recipients: z.number().int().openapi({ description: "How many online users get it.", example: 3 }),
    allDelivered: z.boolean().openapi({ description: "False when users who blocked the sender were skipped." }),
    detail: z.string().optional().openapi({ example: "Your message could not be delivered to some recipients" }),
  })
  .openapi("BroadcastResult");

const broadcastRoute = createRoute({
  method: "post",
  path: "/broadcasts",
  tags: ["Messages"],
  summary: "Broadcast to every online user (broadcast <text>)",
  description:
    "Every online user except the sender and those who blocked the sender gets a `broadcast` event. " +
    "Offline users never get it (it is kept as history, not queued for them).",
  security: bearerSecurity,
  request: {
    headers: IdempotencyHeaders,
    body: { required: true, content: { "application/json": { schema: BroadcastBody } } },
  },
  responses: {
    201: { description: "Sent", content: { "application/json": { schema: BroadcastResult } } },
    ...problemResponses(...authenticatedProblems, 422),
  },
});

export function broadcastRoutes(context: ChatContext) {
  return createRouter().openapi({ ...broadcastRoute, middleware: [requireSession(context, { touch: true })] }, async (c) => {
    const idempotencyKey = c.req.valid("header")["idempotency-key"];
    return c.json(await sendBroadcast(context, c.get("caller").username, c.req.valid("json").text, idempotencyKey), 201);
  });
}
