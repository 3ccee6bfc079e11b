import { createRoute, z } from "@hono/zod-openapi";
import { blockUser, listBlocked, unblockUser } from "../chat/blocks.js";
import type { ChatContext } from "../chat/context.js";
import { requireSession } from "../http/auth.js";
import { bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { UserList, UsernameParam } from "./schemas.js";

const BlockResult = z
  .object({
    username: z.string().openapi({ example: "yoda" }),
    blocked: z.boolean(),
    detail: z.string().openapi({ example: "yoda is blocked" }),
  })
  .openapi("BlockResult");

const blockRoute = createRoute({
  method: "put",
  path: "/blocks/{username}",
  tags: ["Blocks"],
  summary: "Block a user (block <user>)",
  description:
    "Idempotent. The blocked user is never told; their messages to me fail with 403, their broadcasts skip me, " +
    "they get no presence about me and cannot start a private session with me. Private sessions already live keep working.",
  security: bearerSecurity,
  request: { params: UsernameParam },
  responses: {
    200: { description: "Blocked", content: { "application/json": { schema: BlockResult } } },
    ...problemResponses(400, 401, 404, 422),
  },
});

const unblockRoute = createRoute({
  method: "delete",
  path: "/blocks/{username}",
  tags: ["Blocks"],
  summary: "Unblock a user (unblock <user>)",
  security: bearerSecurity,
  request: { params: UsernameParam },
  responses: {
    200: { description: "Unblocked", content: { "application/json": { schema: BlockResult } } },
    ...problemResponses(400, 401, 404, 422),
  },
});

const listRoute = createRoute({
  method: "get",
  path: "/blocks",
  tags: ["Blocks"],
  summary: "Users I have blocked",
  security: bearerSecurity,
  responses: {
    200: { description: "Blocked users, sorted", content: { "application/json": { schema: UserList } } },
    ...problemResponses(401),
  },
});

export function blockRoutes(context: ChatContext) {
  const session = requireSession(context, { touch: true });
  return createRouter()
    .openapi({ ...blockRoute, middleware: [session] }, async (c) =>
      c.json(await blockUser(context.db, c.get("caller").username, c.req.valid("param").username), 200),
    )
    .openapi({ ...unblockRoute, middleware: [session] }, async (c) =>
      c.json(await unblockUser(context.db, c.get("caller").username, c.req.valid("param").username), 200),
    )
    .openapi({ ...listRoute, middleware: [session] }, async (c) =>
      c.json({ users: await listBlocked(context.db, c.get("caller").username) }, 200),
    );
}
