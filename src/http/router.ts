import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Caller } from "../chat/sessions.js";
import { AppError, ERROR_CODES } from "../chat/errors.js";
import type { RateLimits } from "./rate-limit.js";

export type AppEnv = { Variables: { caller: Caller; requestId: string; rateLimits: RateLimits } };

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "/problems/unknown-user" }),
    title: z.string().openapi({ example: "Unknown user" }),
    status: z.number().int().openapi({ example: 404 }),
    code: z.enum(ERROR_CODES).openapi({ example: "unknown_user" }),
    detail: z.string().openapi({ example: "Error. Invalid user" }),
    requestId: z.string().optional().openapi({ description: "Also in the X-Request-Id header; quote it when reporting a 500." }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: "Each invalid field (validation_error only)." }),
    attemptsLeft: z
      .number()
      .int()
      .optional()
      .openapi({ description: "Wrong password for an existing user: tries left before lockout." }),
    retryAfter: z.number().int().optional().openapi({ description: "Seconds to wait (423, 429, 503); also in Retry-After." }),
  })
  .openapi("Problem");

const problemDescriptions: Partial<Record<number, string>> = {
  400: "Malformed JSON, missing or wrong fields (`validation_error`)",
  401: "No token, a bad token, or the session ended (`unauthorized`)",
  403: "The target has blocked the caller (`blocked`)",
  404: "Not found",
  409: "Conflict",
  413: "Body over 64 KiB (`payload_too_large`)",
  415: "Body not sent as application/json (`unsupported_media_type`)",
  422: "The command names the caller (`self_target`); on a send, an Idempotency-Key reused with a different request (`idempotency_key_reused`)",
  423: "Locked after 3 wrong passwords (`account_locked`)",
  429:
    "Too many requests (`rate_limited`): per client address, per user, and for login per address and per username; " +
    "counted per minute by each instance. Wait `retryAfter` seconds (also in Retry-After)",
  500: "Internal error; the body carries a request id and nothing else",
  503:
    "Service unavailable (`service_unavailable`): the database is unreachable, or the request came on a connection beyond " +
    "this instance's cap (`--max-connections`, by default 9/10 of its open-file limit), which is closed after the answer. " +
    "Retry after `retryAfter` seconds (also in Retry-After)",
};

/** The problem+json responses of a route, declared once here and spread into each route; any route may answer 429, 500 and 503. */
export function problemResponses(...statuses: number[]) {
  const all = [...new Set([...statuses, 429, 500, 503])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      {
        description: problemDescriptions[status] ?? "Error",
        content: { "application/problem+json": { schema: ProblemSchema } },
      },
    ]),
  );
}

/** Responses every authenticated JSON route can give. */
export const authenticatedProblems = [400, 401, 413, 415];

/** A router whose validation failures become one problem+json shape. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = result.error.issues.map((issue) => ({
          path: issue.path.map(String).join(".") || "(body)",
          message: issue.message,
        }));
        throw new AppError("validation_error", errors.map((error) => `${error.path}: ${error.message}`).join("; "), { errors });
      }
    },
  });
}

export const bearerSecurity = [{ bearerAuth: [] }];
