import { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import type { MiddlewareHandler } from "hono";
import { isWrittenByHandler } from "./node-response.js";
import type { AppEnv } from "./router.js";

/**
 * The docs page: its own scripts and styles, the document and try-it-out calls to this origin,
 * nothing else (Swagger UI's icons are data: URLs in its stylesheet).
 */
const DOCS_PAGE_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The web chat page at / and its script and style: everything it loads and calls is this service. */
const WEB_PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Everything else is JSON, problem+json, an event stream or a script file: no document to run anything. */
const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * What hono's secureHeaders sets with `xFrameOptions: "DENY"` and `referrerPolicy: "no-referrer"`
 * (nosniff, no framing, no referrer, HSTS, same-origin resource and opener policies), written out
 * so they can go to node:http directly; test/ops/security-headers.test.ts holds them to hono's.
 */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ["cross-origin-resource-policy", "same-origin"],
  ["cross-origin-opener-policy", "same-origin"],
  ["origin-agent-cluster", "?1"],
  ["referrer-policy", "no-referrer"],
  ["strict-transport-security", "max-age=15552000; includeSubDomains"],
  ["x-content-type-options", "nosniff"],
  ["x-dns-prefetch-control", "off"],
  ["x-download-options", "noopen"],
  ["x-frame-options", "DENY"],
  ["x-permitted-cross-domain-policies", "none"],
  ["x-xss-protection", "0"],
];

/** The Content-Security-Policy for a path: the docs page and the web chat page load their own files. */
export function contentSecurityPolicy(path: string): string {
  if (path === "/docs") return DOCS_PAGE_POLICY;
  if (path === "/" || path.startsWith("/web/")) return WEB_PAGE_POLICY;
  return API_POLICY;
}

/** A client's or proxy's X-Request-Id is kept when it is short and plain; hono's requestId kept the same. */
const USABLE_REQUEST_ID = /^[\w\-=]{1,255}$/;

/**
 * Every response's own headers: X-Request-Id (the one the client sent when usable, else a new
 * UUID, also in the context for logs and problem bodies), the security headers and a
 * Content-Security-Policy that lets nothing load, except on the docs page and the web chat page.
 *
 * On node:http they go on node's response, which writes them with the head of whatever the
 * handler answered. Setting them on the web Response instead, as hono's requestId and
 * secureHeaders do, builds a web Headers object for every response, which cost more than writing
 * these headers did (BENCHMARKS.md, "Response headers without web Headers"). The event stream
 * writes its own head, with only the request id: the rest mean nothing for an event stream, and
 * every header stored on an idle stream's response would cost memory for as long as it is open.
 * In-process (app.request(), no node response) they go on the web Response.
 */
export function responseHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const sent = c.req.header("x-request-id");
    const requestId = sent !== undefined && USABLE_REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    let set: (name: string, value: string) => void;
    if (outgoing instanceof ServerResponse) {
      if (isWrittenByHandler(outgoing)) return;
      set = (name, value) => outgoing.setHeader(name, value);
    } else {
      const headers = c.res.headers;
      set = (name, value) => headers.set(name, value);
    }
    set("x-request-id", requestId);
    for (const [name, value] of SECURITY_HEADERS) set(name, value);
    set("content-security-policy", contentSecurityPolicy(c.req.path));
  };
}
