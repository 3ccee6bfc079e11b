import { createRoute, z } from "@hono/zod-openapi";
import type { ChatContext } from "../chat/context.js";
import { countOnline } from "../chat/presence.js";
import { checkDatabase, connectionsInUse } from "../db/health.js";
import type { Logger } from "../observability/logger.js";
import { renderMetrics, type Metrics } from "../observability/metrics.js";
import { createRouter, problemResponses, ProblemSchema } from "../http/router.js";
import { AppError } from "../chat/errors.js";

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "The process answers",
  description: "Liveness: answers while the process runs, whatever the database does. Needs no token.",
  responses: {
    200: {
      description: "Alive",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
    },
    ...problemResponses(),
  },
});

const readyRoute = createRoute({
  method: "get",
  path: "/ready",
  tags: ["Operations"],
  summary: "The database answers and its migrations are applied",
  description:
    "Readiness: 200 when the database answers within 2 s and has every migration this build ships applied; " +
    "503 `service_unavailable` otherwise, with the reason in `detail`. Needs no token. `fanOut` says how this " +
    "instance reaches the others (`single-instance`, `postgres` LISTEN/NOTIFY or `nats`) and whether that way is " +
    "`connected`. A NATS outage does not make the instance unready: its streams then read every event from the log " +
    "(late, every second) and live delivery comes back with NATS by itself, so taking every instance out of a load " +
    "balancer would only stop a service that still works; alert on `connected: false` instead.",
  responses: {
    200: {
      description: "Ready to serve",
      content: {
        "application/json": {
          schema: z
            .object({
              status: z.literal("ready"),
              fanOut: z
                .object({
                  kind: z.enum(["single-instance", "postgres", "nats"]),
                  connected: z.boolean().openapi({ description: "false while the NATS connection is down" }),
                })
                .openapi("FanOut"),
            })
            .openapi("Ready", { example: { status: "ready", fanOut: { kind: "nats", connected: true } } }),
        },
      },
    },
    ...problemResponses(),
    503: {
      description:
        "The database does not answer, or its migrations are not applied (`service_unavailable`); or, as on every route, " +
        "the request came on a connection beyond the instance's cap (`--max-connections`), with Retry-After",
      content: { "application/problem+json": { schema: ProblemSchema } },
    },
  },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Operations"],
  summary: "Prometheus metrics",
  description:
    "The Prometheus text exposition format: request durations by route and status, open event streams, sessions online, " +
    "messages and broadcasts accepted, events delivered, send-to-delivery lag, streams cut off for being slow, login failures " +
    "and lockouts, database connections in use, and the default Node.js process metrics. Needs no token: keep it off the " +
    "public internet (see the README).",
  responses: {
    200: {
      description: "The metrics",
      content: {
        "text/plain; version=0.0.4": {
          schema: z
            .string()
            .openapi({ example: "# TYPE chat_messages_accepted_total counter\nchat_messages_accepted_total 12\n" }),
        },
      },
    },
    ...problemResponses(),
  },
});

export function opsRoutes(context: ChatContext, observability: { logger: Logger; metrics: Metrics }) {
  const { logger, metrics } = observability;
  const gauges = { sessionsOnline: () => countOnline(context.db), connectionsInUse: () => connectionsInUse(context.db) };
  return createRouter()
    .openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyRoute, async (c) => {
      const status = await checkDatabase(context.db);
      if (!status.ready) {
        logger.warn({ reqId: c.get("requestId"), reason: status.reason, err: status.error }, `not ready: ${status.reason}`);
        throw new AppError("service_unavailable", `Not ready: ${status.reason}`);
      }
      const { kind, connected } = context.hub.fanOut();
      return c.json({ status: "ready" as const, fanOut: { kind, connected } }, 200);
    })
    .openapi(metricsRoute, async (c) =>
      c.text(await renderMetrics(metrics, gauges), 200, { "content-type": metrics.registry.contentType }),
    );
}
