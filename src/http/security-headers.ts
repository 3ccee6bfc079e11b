import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/** The docs page: its own scripts and styles, the document and try-it-out calls to this origin, nothing else. */
const DOCS_PAGE_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"], // Swagger UI's icons are data: URLs in its stylesheet
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

/** Everything else is JSON, problem+json, an event stream or a script file: no document to run anything. */
const API_POLICY = { defaultSrc: ["'none'"], frameAncestors: ["'none'"] };

/**
 * hono's secure headers on every response (nosniff, no framing, no referrer, HSTS, same-origin
 * resource and opener policies), with a Content-Security-Policy that lets nothing load, except on
 * the docs page, which may load its own scripts and styles. Headers are added after the handler,
 * so the event stream, which writes its head itself on node:http, does not carry them.
 */
export function securityHeaders(): MiddlewareHandler {
  const shared = { xFrameOptions: "DENY", referrerPolicy: "no-referrer" };
  const forApi = secureHeaders({ ...shared, contentSecurityPolicy: API_POLICY });
  const forDocsPage = secureHeaders({ ...shared, contentSecurityPolicy: DOCS_PAGE_POLICY });
  return (c, next) => (c.req.path === "/docs" ? forDocsPage : forApi)(c, next);
}
