import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every error code the API can answer with, and the HTTP status it maps to. */
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
  internal_error: 500,
  service_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ProblemCode = keyof typeof problemStatus;

const titles: Record<ProblemCode, string> = {
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
  internal_error: "Internal server error",
  service_unavailable: "Service unavailable",
};

export type FieldError = { path: string; message: string };

/** Extra members a problem may carry beyond the RFC 9457 ones. */
export type ProblemExtras = {
  errors?: FieldError[];
  attemptsLeft?: number;
  retryAfter?: number;
};

/** The one error type of the service: a code from the table above, a human detail, optional extras. */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extras: ProblemExtras = {},
  ) {
    super(detail);
    this.status = problemStatus[code];
  }
}

export type Problem = {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  requestId?: string;
} & ProblemExtras;

export function toProblem(error: AppError, requestId?: string): Problem {
  return {
    type: `/problems/${error.code.replaceAll("_", "-")}`,
    title: titles[error.code],
    status: error.status,
    code: error.code,
    detail: error.detail,
    ...error.extras,
    ...(requestId ? { requestId } : {}),
  };
}

/** A problem+json Response; Retry-After goes in a header too when the problem carries it. */
export function problemResponse(error: AppError, requestId?: string, headers?: HeadersInit): Response {
  const responseHeaders = new Headers(headers);
  responseHeaders.set("content-type", "application/problem+json");
  if (error.extras.retryAfter !== undefined) responseHeaders.set("retry-after", String(error.extras.retryAfter));
  return new Response(JSON.stringify(toProblem(error, requestId)), { status: error.status, headers: responseHeaders });
}
