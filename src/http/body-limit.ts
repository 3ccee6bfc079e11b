import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../chat/errors.js";
import type { AppEnv } from "./router.js";

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * 413 for a body over MAX_BODY_BYTES. hono's bodyLimit turns every request into a web Request to
 * look for a body; when the length is declared (or there is no body) the same rule needs only the
 * headers, and the body is later read straight from the socket. Chunked bodies go through bodyLimit.
 */
export function limitBodySize(): MiddlewareHandler<AppEnv> {
  const tooLarge = () => {
    throw new AppError("payload_too_large", `The body must be at most ${MAX_BODY_BYTES} bytes`);
  };
  const streamed = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  return async (c, next) => {
    if (c.req.header("transfer-encoding") !== undefined) return streamed(c, next);
    const length = c.req.header("content-length");
    if (length === undefined) return c.req.method === "GET" || c.req.method === "HEAD" ? next() : streamed(c, next);
    if (Number(length) > MAX_BODY_BYTES) tooLarge();
    return next();
  };
}
