import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AppError, type ErrorCode, type ErrorExtras } from "../chat/errors.js";
import { isDatabaseUnavailable } from "../db/client.js";

/** The HTTP status of each error code. */
export const problemStatus = {
  validation_error: 400,
  invalid_credentials: 401,
  unauthorized: 401,
  blocked: 403,
  unknown_user: 404,
  not_blocked: 404,
  private_not_enabled: 404,
  not_found: 404,
  method_not_allowed: 405,
  already_logged_in: 409,
  user_offline: 409,
  no_peer_address: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  self_target: 422,
  idempotency_key_reused: 422,
  account_locked: 423,
  rate_limited: 429,
  too_many_streams: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>;

const titles: Record<ErrorCode, string> = {
  validation_error: "Invalid request",
  invalid_credentials: "Invalid credentials",
  unauthorized: "Unauthorized",
  blocked: "Blocked by recipient",
  unknown_user: "Unknown user",
  not_blocked: "User not blocked",
  private_not_enabled: "Private messaging not enabled",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  already_logged_in: "Already logged in",
  user_offline: "User offline",
  no_peer_address: "No peer address",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  self_target: "Cannot target yourself",
  idempotency_key_reused: "Idempotency key reused",
  account_locked: "Account locked",
  rate_limited: "Too many requests",
  too_many_streams: "Too many event streams",
  internal_error: "Internal server error",
  service_unavailable: "Service unavailable",
};

/** An RFC 9457 problem as the API sends it. */
type Problem = {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  requestId?: string;
} & ErrorExtras;

/** A problem+json Response; Retry-After goes in a header too when the problem carries it. */
export function problemResponse(error: AppError, requestId?: string, headers?: HeadersInit): Response {
  const status = problemStatus[error.code];
  const problem: Problem = {
    type: `/problems/${error.code.replaceAll("_", "-")}`,
    title: titles[error.code],
    status,
    code: error.code,
    detail: error.detail,
    ...error.extras,
    ...(requestId ? { requestId } : {}),
  };
  const responseHeaders = new Headers(headers);
  responseHeaders.set("content-type", "application/problem+json");
  if (status === 401) responseHeaders.set("www-authenticate", 'Bearer realm="chat"');
  if (error.extras.retryAfter !== undefined) responseHeaders.set("retry-after", String(error.extras.retryAfter));
  return new Response(JSON.stringify(problem), { status, headers: responseHeaders });
}

const codeForStatus: Partial<Record<number, ErrorCode>> = {
  400: "validation_error",
  401: "unauthorized",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "service_unavailable",
};

/** Turns anything thrown into an AppError; an unexpected error becomes internal_error, which says nothing about internals. */
export function toAppError(error: unknown): AppError {
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
