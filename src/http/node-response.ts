import type { Http2Bindings, HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";

/** The header @hono/node-server's RESPONSE_ALREADY_SENT carries. */
const ALREADY_SENT_HEADER = "x-hono-already-sent";

/** What a handler that wrote its response to node:http itself returns (see nodeServerFetch). */
export const alreadySent = () => new Response(null, { headers: { [ALREADY_SENT_HEADER]: "true" } });

/**
 * An app's fetch for @hono/node-server. A handler that wrote its response to node:http itself
 * (the event stream) returns alreadySent(); hono copies responses as middleware adds headers, and
 * node-server leaves alone only its own RESPONSE_ALREADY_SENT (it would write a second head for a
 * copy), so the mark is swapped for it here.
 */
export function nodeServerFetch(app: {
  fetch: (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>;
}) {
  return async (request: Request, env: HttpBindings | Http2Bindings): Promise<Response> => {
    const response = await app.fetch(request, env);
    return response.headers.get(ALREADY_SENT_HEADER) === "true" ? RESPONSE_ALREADY_SENT : response;
  };
}
