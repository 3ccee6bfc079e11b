import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";

/**
 * The peer's IP as seen by the socket (IPv4-mapped addresses unwrapped); absent under app.request().
 * X-Forwarded-For is not trusted: behind a proxy every client shares the proxy's address.
 */
export function clientAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address?.replace(/^::ffff:/, "");
  } catch {
    return undefined;
  }
}
