import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { listOnline } from "../chat/presence.js";
import { requireSession } from "../http/auth.js";
import { bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { UserList } from "./schemas.js";

const OnlineQuery = z.object({
  since: z.coerce
    .number()
    .int()
    .min(0)
    .max(10 * 365 * 24 * 3600)
    .optional()
    .openapi({ description: "whoelsesince: also users who were online at any moment in the last `since` seconds.", example: 60 }),
});

const onlineRoute = createRoute({
  method: "get",
  path: "/users/online",
  tags: ["Users"],
  summary: "Other users online (whoelse / whoelsesince)",
  description: "Never includes the caller. Blocks do not hide anyone here. Names sorted by code point.",
  security: bearerSecurity,
  request: { query: OnlineQuery },
  responses: {
    200: { description: "User names", content: { "application/json": { schema: UserList } } },
    ...problemResponses(400, 401),
  },
});

export function userRoutes(context: ChatContext) {
  return createRouter().openapi({ ...onlineRoute, middleware: [requireSession(context, { touch: true })] }, async (c) => {
    const users = await listOnline(context.db, c.get("caller").username, c.req.valid("query").since);
    return c.json({ users }, 200);
  });
}
