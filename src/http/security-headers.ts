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

/** The web chat page at / and its script and style: everything it loads and calls is this service. */
const WEB_PAGE_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Everything else is JSON, problem+json, an event stream or a script file: no document to run anything. */
const API_POLICY = { defaultSrc: ["'none'"], frameAncestors: ["'none'"] };

/**
 * hono's secure headers on every response (nosniff, no framing, no referrer, HSTS, same-origin
 * resource and opener policies), with a Content-Security-Policy that lets nothing load, except on
 * the docs page and the web chat page, which may load their own scripts and styles. Headers are added after the handler,
 * so the event stream, which writes its head itself on node:http, does not carry them.
 */
export function securityHeaders(): MiddlewareHandler {
  const shared = { xFrameOptions: "DENY", referrerPolicy: "no-referrer" };
  const forApi = secureHeaders({ ...shared, contentSecurityPolicy: API_POLICY });
  const forDocsPage = secureHeaders({ ...shared, contentSecurityPolicy: DOCS_PAGE_POLICY });
  const forWebPage = secureHeaders({ ...shared, contentSecurityPolicy: WEB_PAGE_POLICY });
  return (c, next) => {
    const path = c.req.path;
    if (path === "/docs") return forDocsPage(c, next);
    if (path === "/" || path.startsWith("/web/")) return forWebPage(c, next);
    return forApi(c, next);
  };
}
