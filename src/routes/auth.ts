import { isIP } from "node:net";
import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { login, logout } from "../chat/sessions.js";
import { requireSession } from "../http/auth.js";
import { clientAddress } from "../http/client-address.js";
import { bearerSecurity, createRouter, problemResponses } from "../http/router.js";
import { Username, wellFormedString } from "./schemas.js";

/** An IP literal peers can dial from anywhere: a zone (fe80::1%eth0) means something only on the machine that wrote it. */
const isPeerHost = (host: string) => isIP(host) !== 0 && !host.includes("%");

const LoginBody = z
  .object({
    username: Username.openapi({ example: "hans" }),
    password: wellFormedString().min(1).max(1024).openapi({ example: "falcon" }),
    p2pPort: z.number().int().min(1).max(65535).optional().openapi({
      description: "TCP port the client listens on for private (peer-to-peer) chat.",
      example: 50123,
    }),
    p2pHost: wellFormedString()
      .max(64)
      .refine(
        isPeerHost,
        "p2pHost must be an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::1 (no host name, port or zone)",
      )
      .optional()
      .openapi({
        description:
          "The IP address (an IPv4 or IPv6 literal, without brackets, port or zone) peers should connect to for private chat; " +
          "defaults to the address this login came from. Host names and anything else are refused (400 `validation_error`).",
        example: "192.0.2.10",
      }),
  })
  .strict()
  .openapi("LoginRequest");

const LoginResult = z
  .object({
    token: z.string().openapi({ example: "eyJhbGciOiJIUzI1NiJ9..." }),
    tokenType: z.literal("Bearer"),
    expiresAt: z.string().openapi({
      description: "When the token itself expires; it stops working earlier if the session ends (logout or inactivity).",
      example: "2026-11-26T12:00:00.000Z",
    }),
    username: z.string().openapi({ example: "hans" }),
    detail: z.string().openapi({ example: "Welcome to the greatest messaging application ever!" }),
  })
  .openapi("LoginResult");

const loginRoute = createRoute({
  method: "post",
  path: "/login",
  tags: ["Session"],
  summary: "Log in (starts a session)",
  description:
    "Three consecutive wrong passwords lock the username for `block_duration` seconds, from any address " +
    "(423 `account_locked`, also for every attempt during the lock). A username with a live session gets 409 " +
    "`already_logged_in`. An unknown username gets 401 `invalid_credentials` without `attemptsLeft` and does not lock anything. " +
    "Attempts are rate limited per address and per username, known or not (429 `rate_limited`). " +
    "Every other online user who is not on this user's block list receives a `presence` event.",
  request: { body: { required: true, content: { "application/json": { schema: LoginBody } } } },
  responses: {
    200: { description: "Logged in", content: { "application/json": { schema: LoginResult } } },
    ...problemResponses(400, 401, 409, 413, 415, 423),
  },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/logout",
  tags: ["Session"],
  summary: "Log out (ends the session)",
  description:
    "The token stops working at once; the session's event streams get `session_ended` and close; other users get `presence`; " +
    "private sessions end and their peers get `private_stopped`.",
  security: bearerSecurity,
  responses: { 204: { description: "Logged out" }, ...problemResponses(401) },
});

export function authRoutes(context: ChatContext) {
  return createRouter()
    .openapi(loginRoute, async (c) => {
      const body = c.req.valid("json");
      const address = clientAddress(c);
      await c.get("rateLimits").login(address, body.username);
      return c.json(await login(context, { ...body, clientAddress: address }), 200);
    })
    .openapi({ ...logoutRoute, middleware: [requireSession(context, { touch: false })] }, async (c) => {
      await logout(context, c.get("caller"));
      return c.body(null, 204);
    });
}
