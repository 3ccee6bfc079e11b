import type { MiddlewareHandler } from "hono";
import type { ChatContext } from "../chat/context.js";
import { authenticate } from "../chat/sessions.js";
import type { AppEnv } from "./router.js";
import { AppError } from "../chat/errors.js";

function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/**
 * Requires a live session. `allowQueryToken` accepts `?access_token=` (RFC 6750) for the event
 * stream, which browsers open without headers; `touch` counts the request as activity.
 */
export function requireSession(
  context: ChatContext,
  options: { touch: boolean; allowQueryToken?: boolean },
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token =
      bearerToken(c.req.header("authorization")) ?? (options.allowQueryToken ? c.req.query("access_token") : undefined);
    if (!token) throw new AppError("unauthorized", "A bearer token is required: log in with POST /login");
    const caller = await authenticate(context, token, options.touch);
    if (!caller) throw new AppError("unauthorized", "The token is invalid or its session has ended: log in again");
    c.set("caller", caller);
    await c.get("rateLimits").user(caller.username);
    await next();
  };
}
