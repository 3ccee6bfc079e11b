import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Hono } from "hono";

const require = createRequire(import.meta.url);
const swaggerUiDirectory = dirname(require.resolve("swagger-ui-dist/package.json"));
const swaggerUiVersion = (require("swagger-ui-dist/package.json") as { version: string }).version;

/** Where the page's scripts and styles are served; the version in the path lets browsers keep them for a year. */
const DOCS_ASSETS_PATH = `/docs/assets/${swaggerUiVersion}`;

const JAVASCRIPT = "text/javascript; charset=utf-8";

/** The installed swagger-ui-dist files the page loads, by name: nothing else of the package is served. */
const PACKAGE_ASSETS: Record<string, string> = {
  "swagger-ui-bundle.js": JAVASCRIPT,
  "swagger-ui.css": "text/css; charset=utf-8",
};

// A file of its own rather than an inline script, so the page's policy can say script-src 'self' and nothing more.
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null
});
`;

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Chat service API</title>
    <link rel="stylesheet" href="${DOCS_ASSETS_PATH}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS_PATH}/swagger-ui-bundle.js"></script>
    <script src="${DOCS_ASSETS_PATH}/initializer.js"></script>
  </body>
</html>
`;

const cacheForAYear = { "cache-control": "public, max-age=31536000, immutable" };

/**
 * GET /docs: Swagger UI over /openapi.json, its scripts and styles served from the installed
 * swagger-ui-dist (pinned by the lockfile), so the page needs no network and trusts no CDN.
 */
export function docsPage() {
  const files = new Map<string, Buffer>();
  const readAsset = (name: string) => {
    let content = files.get(name);
    if (!content) files.set(name, (content = readFileSync(join(swaggerUiDirectory, name))));
    return content;
  };
  // One route for every asset: a fixed path beside a parameter in the same place would make hono
  // fall back from its RegExpRouter to the TrieRouter, which allocates on every request's match.
  return new Hono()
    .get("/docs", (c) => c.html(PAGE))
    .get(`${DOCS_ASSETS_PATH}/:file`, (c, next) => {
      const file = c.req.param("file");
      if (file === "initializer.js") return c.body(INITIALIZER, 200, { "content-type": JAVASCRIPT, ...cacheForAYear });
      const contentType = Object.hasOwn(PACKAGE_ASSETS, file) ? PACKAGE_ASSETS[file] : undefined;
      if (!contentType) return next();
      return c.body(new Uint8Array(readAsset(file)), 200, { "content-type": contentType, ...cacheForAYear });
    });
}
