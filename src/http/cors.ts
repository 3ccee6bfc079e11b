import { cors } from "hono/cors";

/**
 * CORS for pages on the given origins: they may call the API with a bearer token and open
 * `EventSource(url + "?access_token=...")`, and read Retry-After and X-Request-Id. No cookies
 * are used, so no credentials mode.
 */
export function corsFor(origins: readonly string[]) {
  return cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID", "Idempotency-Key", "X-Request-Id"],
    exposeHeaders: ["Retry-After", "X-Request-Id"],
    maxAge: 600,
  });
}
