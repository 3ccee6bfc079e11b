import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Caller } from "../chat/sessions.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { AppEnv } from "../http/router.js";

/** What a request that matched no route is counted as, so unknown paths cannot grow the label set. */
const UNMATCHED_ROUTE = "(unmatched)";

/**
 * One log line and one histogram sample per request: request id, method, route pattern, path
 * (never the query string, where `access_token` may be), status, duration and the caller. The
 * outermost layer, so that it logs what every other one did; the id it logs is the one
 * responseHeaders gives the request.
 */
export function requestLog(logger: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  // The fields below hold no secret, so the lines skip redaction: its wildcard paths cost a check
  // per field of every line (2.1% of the server's busy time in the direct-messages profile).
  // Lines of failed requests carry the error, and keep it.
  const requestLines = logger.child({}, { redact: [] });
  return async (c, next) => {
    const started = performance.now();
    await next();
    const requestId = c.get("requestId");
    const seconds = (performance.now() - started) / 1000;
    const { method } = c.req;
    const status = c.res.status;
    const route = routeLabel(routePath(c, -1));
    metrics.requestDuration.observe({ method, route, status: String(status) }, seconds);
    const caller = c.get("caller") as Caller | undefined;
    const fields = {
      reqId: requestId,
      method,
      route,
      path: c.req.path,
      status,
      durationMs: Math.round(seconds * 10_000) / 10,
      ...(caller ? { user: caller.username } : {}),
    };
    const message = `${method} ${c.req.path} ${status} ${fields.durationMs}ms`;
    if (status >= 500) logger.error({ ...fields, err: c.error }, message);
    else requestLines.info(fields, message);
  };
}

/** The matched route's pattern in OpenAPI form (`/blocks/{username}`); app-wide middleware only means no route matched. */
function routeLabel(pattern: string): string {
  if (pattern === "" || pattern === "*" || pattern === "/*") return UNMATCHED_ROUTE;
  return pattern.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");
}
