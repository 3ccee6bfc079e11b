import { Scalar } from "@scalar/hono-api-reference";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ChatContext } from "./chat/context.js";
import { corsFor } from "./lib/cors.js";
import { createRouter, type AppEnv } from "./lib/openapi.js";
import { isDatabaseUnavailable } from "./db/client.js";
import { AppError, problemResponse, type ProblemCode } from "./lib/problem.js";
import { createRateLimits, limitEveryRequest } from "./lib/rate-limit.js";
import { requestLog } from "./lib/request-log.js";
import { createObservability, type Observability } from "./lib/telemetry.js";
import { authRoutes } from "./routes/auth.js";
import { blockRoutes } from "./routes/blocks.js";
import { broadcastRoutes } from "./routes/broadcasts.js";
import { eventRoutes } from "./routes/events.js";
import { messageRoutes } from "./routes/messages.js";
import { opsRoutes } from "./routes/ops.js";
import { privateRoutes } from "./routes/private.js";
import { userRoutes } from "./routes/users.js";

export const MAX_BODY_BYTES = 64 * 1024;

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

const codeForStatus: Partial<Record<number, ProblemCode>> = {
  400: "validation_error",
  401: "unauthorized",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "service_unavailable",
};

/** Turns anything thrown into problem+json; a 500 says nothing about internals. */
function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HTTPException) {
    const code = codeForStatus[error.status];
    if (code)
      return new AppError(code, error.status === 415 ? "Send the body as application/json" : error.message || "Request rejected");
  }
  if (isDatabaseUnavailable(error)) {
    return new AppError("service_unavailable", "The database is unavailable right now; try again shortly", { retryAfter: 1 });
  }
  return new AppError("internal_error", "Something went wrong on our side; quote the request id if you report it");
}

export type AppOptions = {
  onInternalError?: (error: unknown, requestId: string) => void;
  /** Request logs and metrics; without it requests are measured but not logged. */
  observability?: Pick<Observability, "logger" | "metrics">;
  /** Origins whose pages may call the API; none by default. */
  corsOrigins?: readonly string[];
};

/**
 * 413 for a body over MAX_BODY_BYTES. hono's bodyLimit turns every request into a web Request to
 * look for a body; when the length is declared (or there is no body) the same rule needs only the
 * headers, and the body is later read straight from the socket. Chunked bodies go through bodyLimit.
 */
function limitBodySize(): MiddlewareHandler<AppEnv> {
  const tooLarge = () => {
    throw new AppError("payload_too_large", `The body must be at most ${MAX_BODY_BYTES} bytes`);
  };
  const streamed = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  return async (c, next) => {
    if (c.req.header("transfer-encoding") !== undefined) return streamed(c, next);
    const length = c.req.header("content-length");
    if (length === undefined) return c.req.method === "GET" || c.req.method === "HEAD" ? next() : streamed(c, next);
    if (Number(length) > MAX_BODY_BYTES) tooLarge();
    return next();
  };
}

/** The whole HTTP surface over a chat context; no I/O happens until a request arrives. */
export function createApp(context: ChatContext, options: AppOptions = {}) {
  const app = createRouter();
  const observability = options.observability ?? createObservability({ logLevel: "silent", processMetrics: false });

  app.use(requestId());
  app.use(requestLog(observability.logger, observability.metrics));
  if (options.corsOrigins?.length) app.use(corsFor(options.corsOrigins));
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
    .route("/", opsRoutes(context, observability));

  app.doc31("/openapi.json", openApiInfo);
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Chat service API" }));

  app.notFound((c) =>
    problemResponse(new AppError("not_found", `No route for ${c.req.method} ${c.req.path}`), c.get("requestId")),
  );
  app.onError((error, c) => {
    const appError = toAppError(error);
    if (appError.code === "internal_error") options.onInternalError?.(error, c.get("requestId"));
    const headers: Record<string, string> =
      appError.status === (401 as ContentfulStatusCode) ? { "www-authenticate": 'Bearer realm="chat"' } : {};
    return problemResponse(appError, c.get("requestId"), headers);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
