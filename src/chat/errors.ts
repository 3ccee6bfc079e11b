/**
 * Every error code the service answers with. The domain throws most of them; the HTTP layer adds
 * the request-level ones (not_found, payload_too_large, rate_limited, ...). Each maps to one HTTP
 * status in src/http/problem.ts.
 */
export const ERROR_CODES = [
  "validation_error",
  "invalid_credentials",
  "unauthorized",
  "blocked",
  "unknown_user",
  "not_blocked",
  "private_not_enabled",
  "not_found",
  "method_not_allowed",
  "already_logged_in",
  "user_offline",
  "no_peer_address",
  "payload_too_large",
  "unsupported_media_type",
  "self_target",
  "idempotency_key_reused",
  "account_locked",
  "rate_limited",
  "too_many_streams",
  "internal_error",
  "service_unavailable",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

type FieldError = { path: string; message: string };

/** Extra members an error may carry beyond its code and detail. */
export type ErrorExtras = {
  errors?: FieldError[];
  attemptsLeft?: number;
  retryAfter?: number;
};

/** The one error type of the service: a well-known code, a human detail, optional extras. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extras: ErrorExtras = {},
  ) {
    super(detail);
  }
}
