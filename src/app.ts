import { methodNotAllowed } from "hono/method-not-allowed";
import type { ChatContext } from "./chat/context.js";
import { AppError } from "./chat/errors.js";
import { limitBodySize } from "./http/body-limit.js";
import { refuseOverCapacity, type ConnectionLimit } from "./http/connection-limit.js";
import { corsFor } from "./http/cors.js";
import { docsPage } from "./http/docs-page.js";
import { problemResponse, toAppError } from "./http/problem.js";
import { createRateLimits, limitEveryRequest } from "./http/rate-limit.js";
import { responseHeaders } from "./http/response-headers.js";
import { createRouter } from "./http/router.js";
import { requestLog } from "./observability/request-log.js";
import { createObservability, type Observability } from "./observability/telemetry.js";
import { authRoutes } from "./routes/auth.js";
import { blockRoutes } from "./routes/blocks.js";
import { broadcastRoutes } from "./routes/broadcasts.js";
import { eventRoutes } from "./routes/events.js";
import { messageRoutes } from "./routes/messages.js";
import { opsRoutes } from "./routes/ops.js";
import { privateRoutes } from "./routes/private.js";
import { userRoutes } from "./routes/users.js";
import { webRoutes } from "./routes/web.js";

export const openApiInfo = {
  openapi: "3.1.0",
  info: {
    title: "Chat service",
    version: "1.0.0",
    description:
      "A classic terminal chat system (login with lockout, direct and broadcast messages, offline messages, presence, " +
      "blocking, inactivity logout, peer-to-peer private chat) as HTTP + Server-Sent Events. Every error is " +
      "application/problem+json (RFC 9457) with a stable `code`. Texts the original clients printed are kept in `detail`.",
  },
};

export type AppOptions = {
  onInternalError?: (error: unknown, requestId: string) => void;
  /** Request logs and metrics; without it requests are measured but not logged. */
  observability?: Pick<Observability, "logger" | "metrics">;
  /** Origins whose pages may call the API; none by default. */
  corsOrigins?: readonly string[];
  /** The server's connection count: requests on connections beyond the cap get 503. */
  connectionLimit?: ConnectionLimit;
};

/** The whole HTTP surface over a chat context; no I/O happens until a request arrives. */
export function createApp(context: ChatContext, options: AppOptions = {}) {
  const app = createRouter();
  const observability = options.observability ?? createObservability({ logLevel: "silent", processMetrics: false });

  app.use(requestLog(observability.logger, observability.metrics));
  app.use(responseHeaders());
  if (options.corsOrigins?.length) app.use(corsFor(options.corsOrigins));
  if (options.connectionLimit) app.use(refuseOverCapacity(options.connectionLimit));
  app.use(limitEveryRequest(createRateLimits(context.settings.rateLimits)));
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        problemResponse(
          new AppError("method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`),
          c.get("requestId"),
          { allow: methods.join(", ") },
        ),
    }),
  );
  app.use(limitBodySize());

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The token from POST /login. Good only while its session is live.",
  });

  app
    .route("/", authRoutes(context))
    .route("/", messageRoutes(context))
    .route("/", broadcastRoutes(context))
    .route("/", userRoutes(context))
    .route("/", blockRoutes(context))
    .route("/", privateRoutes(context))
    .route("/", eventRoutes(context))
    .route("/", opsRoutes(context, observability))
    .route("/", webRoutes());

  app.doc31("/openapi.json", openApiInfo);
  app.route("/", docsPage());

  app.notFound((c) =>
    problemResponse(new AppError("not_found", `No route for ${c.req.method} ${c.req.path}`), c.get("requestId")),
  );
  app.onError((error, c) => {
    const appError = toAppError(error);
    if (appError.code === "internal_error") options.onInternalError?.(error, c.get("requestId"));
    return problemResponse(appError, c.get("requestId"));
  });
  return app;
}
