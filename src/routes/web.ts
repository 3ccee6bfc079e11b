import { readFileSync } from "node:fs";
import { createRouter } from "../http/router.js";

// src/web/ from src/routes/ (tsx) and from dist/routes/ (npm start) alike: the files are not compiled.
const webFolder = new URL("../../src/web/", import.meta.url);
const files = {
  "/": { name: "index.html", type: "text/html; charset=utf-8" },
  "/web/app.js": { name: "app.js", type: "text/javascript; charset=utf-8" },
  "/web/style.css": { name: "style.css", type: "text/css; charset=utf-8" },
};

/** The web chat page at GET / and its script and style; outside the OpenAPI document, like /docs. Its headers (CSP) come from src/http/response-headers.ts. */
export function webRoutes() {
  const router = createRouter();
  for (const [path, file] of Object.entries(files)) {
    const body = readFileSync(new URL(file.name, webFolder));
    router.get(path, (c) =>
      c.body(body, 200, {
        "content-type": file.type,
        "cache-control": "no-cache",
      }),
    );
  }
  return router;
}
