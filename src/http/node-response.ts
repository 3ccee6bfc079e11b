import type { ServerResponse } from "node:http";
import type { Http2Bindings, HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";

/** node:http responses a handler writes itself (the event stream), from its head on. */
const writtenByHandler = new WeakSet<ServerResponse>();

/**
 * Called by a handler that writes its response to node:http itself (the event stream): answers
 * what it returns to hono, which node-server then leaves alone (see nodeServerFetch). Middleware
 * still sees the response's status (200) for its log line.
 */
export function handlerWritesResponse(outgoing: ServerResponse): Response {
  writtenByHandler.add(outgoing);
  return new Response(null);
}

/** Whether a handler writes this response itself: nothing else may add to its head. */
export function isWrittenByHandler(outgoing: ServerResponse): boolean {
  return writtenByHandler.has(outgoing);
}

/**
 * An app's fetch for @hono/node-server: answers node-server's RESPONSE_ALREADY_SENT for a
 * response a handler wrote itself, which node-server then leaves alone (it would write a second
 * head otherwise). Told by node's response object, which stays the same whatever hono copies:
 * reading a mark from the answer's headers would build a web Headers object for every response.
 */
export function nodeServerFetch(app: {
  fetch: (request: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>;
}) {
  return async (request: Request, env: HttpBindings | Http2Bindings): Promise<Response> => {
    const response = await app.fetch(request, env);
    return "outgoing" in env && isWrittenByHandler(env.outgoing as ServerResponse) ? RESPONSE_ALREADY_SENT : response;
  };
}
