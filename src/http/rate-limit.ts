import type { MiddlewareHandler } from "hono";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimitSettings } from "../chat/context.js";
import { clientAddress } from "./client-address.js";
import type { AppEnv } from "./router.js";
import { AppError } from "../chat/errors.js";

const WINDOW_SECONDS = 60;

/** A budget of `perMinute` requests per key per minute; none when 0 (the limit is off). */
function budget(perMinute: number): RateLimiterMemory | undefined {
  return perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS }) : undefined;
}

async function spend(limiter: RateLimiterMemory | undefined, key: string | undefined, what: string): Promise<void> {
  if (!limiter || key === undefined) return;
  try {
    await limiter.consume(key);
  } catch (rejection) {
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
    throw new AppError("rate_limited", `Too many ${what}: at most ${limiter.points} a minute. Try again in ${retryAfter} s`, {
      retryAfter,
    });
  }
}

/**
 * The request budgets of one instance, kept in its memory: with several instances behind a
 * balancer each counts on its own, so a client may get up to N times a limit in total.
 * Requests with no known peer address (in-process app.request()) skip the per-address budgets.
 */
export function createRateLimits(settings: RateLimitSettings) {
  const perAddress = budget(settings.perAddress);
  const perUser = budget(settings.perUser);
  const loginPerAddress = budget(settings.loginPerAddress);
  const loginPerUsername = budget(settings.loginPerUsername);
  return {
    /** Every request, whatever its route. */
    request: (address: string | undefined) => spend(perAddress, address, "requests from this address"),
    /** Every authenticated request (an event stream counts once, when it opens). */
    user: (username: string) => spend(perUser, username, "requests for this user"),
    /** Every login attempt, per address and per attempted username (known or not). */
    async login(address: string | undefined, username: string) {
      await spend(loginPerAddress, address, "login attempts from this address");
      await spend(loginPerUsername, username, "login attempts for this username");
    },
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

/** Spends every request from the client's address, and hands the budgets to later middleware (sessions, login). */
export function limitEveryRequest(rateLimits: RateLimits): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("rateLimits", rateLimits);
    await rateLimits.request(clientAddress(c));
    await next();
  };
}
