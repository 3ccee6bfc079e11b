import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { HttpBindings } from "@hono/node-server";
import { createMiddleware } from "hono/factory";
import { AppError } from "../chat/errors.js";
import { openFileLimit } from "../lib/open-file-limit.js";
import type { AppEnv } from "./router.js";
import { problemResponse } from "./problem.js";

/** Where the open-file limit cannot be read: the usual Linux default. */
const ASSUMED_OPEN_FILE_LIMIT = 1024;
/** An over-capacity connection that sends no request within this is closed without an answer. */
const OVER_CAPACITY_IDLE_MS = 5000;

/**
 * The default cap: nine tenths of the open-file limit (921 at the usual 1024). The last tenth is
 * left for the database's connections and files and for accepting over-capacity connections long
 * enough to answer them 503, instead of failing on EMFILE.
 */
export function defaultMaxConnections(limit = openFileLimit() ?? ASSUMED_OPEN_FILE_LIMIT): number {
  return Math.max(1, Math.floor(limit * 0.9));
}

export type ConnectionLimit = {
  /** Counts the server's connections from now on; call before it accepts any. */
  watch(server: Server): void;
  /** Whether this connection was accepted beyond the cap (its requests get 503). */
  isOverCapacity(socket: Socket): boolean;
};

/**
 * Counts the open connections of a node:http server. node:http's own maxConnections drops a
 * connection over the cap without a word; here it is accepted and its request answered 503 with
 * Retry-After (see refuseOverCapacity), then closed.
 */
export function createConnectionLimit(maxConnections: number): ConnectionLimit {
  let open = 0;
  const overCapacity = new WeakSet<Socket>();
  return {
    watch(server) {
      server.on("connection", (socket: Socket) => {
        open++;
        let idle: NodeJS.Timeout | undefined;
        if (open > maxConnections) {
          overCapacity.add(socket);
          idle = setTimeout(() => socket.destroy(), OVER_CAPACITY_IDLE_MS).unref();
        }
        socket.once("close", () => {
          open--;
          clearTimeout(idle);
        });
      });
    },
    isOverCapacity: (socket) => overCapacity.has(socket),
  };
}

/** Answers any request on an over-capacity connection 503, and closes the connection after it. */
export function refuseOverCapacity(limit: ConnectionLimit) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const socket = (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
    if (!socket || !limit.isOverCapacity(socket)) return next();
    const error = new AppError("service_unavailable", "This server holds as many connections as it may; try again shortly", {
      retryAfter: 1,
    });
    return problemResponse(error, c.get("requestId"), { connection: "close" });
  });
}
