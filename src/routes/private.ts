import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { listPrivate, startPrivate, stopPrivate } from "../chat/private.js";
import { requireSession } from "../http/auth.js";
import { bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { UsernameParam } from "./schemas.js";

const Address = z
  .object({ host: z.string().openapi({ example: "127.0.0.1" }), port: z.number().int().openapi({ example: 50123 }) })
  .openapi("PeerAddress");

const Secret = z.string().openapi({
  description:
    "The private session's secret: 256 random bits as base64url, the same for both sides and for the whole session " +
    "(a new session gets a new one). Each side proves it holds it when the peers connect; it is never sent to the peer itself.",
  example: "q3Xk0yqT7d2oXyq8o1mBzJ9pR4vN6sWc5eLhAaF0uGk",
});

const StartResult = z
  .object({
    username: z.string().openapi({ example: "luke" }),
    address: Address,
    secret: Secret,
    detail: z.string().openapi({ example: "Start private messaging with luke" }),
  })
  .openapi("PrivateStarted");

const PrivateList = z
  .object({
    sessions: z.array(
      z.object({
        username: z.string().openapi({ example: "luke" }),
        address: Address.nullable().openapi({ description: "The peer's current address; null if they gave none." }),
        secret: Secret,
        startedAt: z.string(),
        startedByMe: z.boolean(),
      }),
    ),
  })
  .openapi("PrivateSessions");

const startRoute = createRoute({
  method: "post",
  path: "/private/{username}",
  tags: ["Private chat"],
  summary: "Start a private (peer-to-peer) chat (startprivate <user>)",
  description:
    "Returns the peer's address to connect to directly and the session's `secret`, and sends the peer a `private_started` event " +
    "with the caller's address (null if the caller logged in without `p2pPort`) and the same secret. Refused for yourself (422), " +
    "an unknown user (404), an offline user (409 `user_offline`), a user with no address (409 `no_peer_address`) and a user who " +
    "blocked you (403; the address is not revealed). There is one live session per pair, whoever started it: starting again " +
    "while one is live (from either side) keeps its secret and re-sends the notice; a session started after one ended gets a new secret. " +
    "The peers connect directly and the chat never passes through the server. The peer connection's first frame proves the caller " +
    "holds the secret, and a client accepts a peer connection only with the secret of a live private session with that user, " +
    "so knowing someone's address is not enough to pose as anyone.",
  security: bearerSecurity,
  request: { params: UsernameParam },
  responses: {
    200: { description: "Peer address", content: { "application/json": { schema: StartResult } } },
    ...problemResponses(400, 401, 403, 404, 409, 422),
  },
});

const stopRoute = createRoute({
  method: "delete",
  path: "/private/{username}",
  tags: ["Private chat"],
  summary: "Stop a private chat (stopprivate <user>)",
  description:
    "Either side may stop it; the other gets `private_stopped` with reason `stopped`. 404 `private_not_enabled` when there is none.",
  security: bearerSecurity,
  request: { params: UsernameParam },
  responses: { 204: { description: "Stopped" }, ...problemResponses(400, 401, 404, 422) },
});

const listRoute = createRoute({
  method: "get",
  path: "/private",
  tags: ["Private chat"],
  summary: "My live private sessions",
  description:
    "Each with the peer's current address and the session's secret: the caller is a party to each session and was given " +
    "the secret already (in the POST /private answer or the `private_started` event).",
  security: bearerSecurity,
  responses: {
    200: { description: "Live private sessions", content: { "application/json": { schema: PrivateList } } },
    ...problemResponses(401),
  },
});

export function privateRoutes(context: ChatContext) {
  const session = requireSession(context, { touch: true });
  return createRouter()
    .openapi({ ...startRoute, middleware: [session] }, async (c) =>
      c.json(await startPrivate(context, c.get("caller").username, c.req.valid("param").username), 200),
    )
    .openapi({ ...stopRoute, middleware: [session] }, async (c) => {
      await stopPrivate(context, c.get("caller").username, c.req.valid("param").username);
      return c.body(null, 204);
    })
    .openapi({ ...listRoute, middleware: [session] }, async (c) =>
      c.json({ sessions: await listPrivate(context.db, c.get("caller").username) }, 200),
    );
}
