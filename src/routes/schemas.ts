import { z } from "@hono/zod-openapi";
import { MAX_TEXT_LENGTH } from "../chat/context.js";
import { USERNAME_MAX_LENGTH, USERNAME_PATTERN, USERNAME_RULE } from "../chat/username.js";

/** PostgreSQL text cannot hold U+0000: strings bound for the database refuse it here (400), not there (500). */
// eslint-disable-next-line no-control-regex -- the one character this rule is about
const NUL_FREE = /^[^\u0000]*$/;
const NUL_MESSAGE = "must not contain the NUL character (U+0000)";

/**
 * Every string a request carries (body field, path or query parameter, header) starts here: a lone
 * surrogate is refused with 400, since JSON columns, PostgreSQL and the logs cannot hold one.
 */
export const wellFormedString = () =>
  z.string().refine((value) => value.isWellFormed(), "must be well-formed Unicode (no lone surrogate)");

/** Message and broadcast text: 1 to 4,096 characters, not only white space. */
export const MessageText = wellFormedString()
  .max(MAX_TEXT_LENGTH, `text must be at most ${MAX_TEXT_LENGTH} characters`)
  .regex(NUL_FREE, `text ${NUL_MESSAGE}`)
  .refine((text) => text.trim().length > 0, "text must not be empty")
  .openapi({ example: "Hey Dude" });

/** The optional Idempotency-Key header of the send routes. */
export const IdempotencyHeaders = z.object({
  "idempotency-key": wellFormedString()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7E]+$/, "Idempotency-Key must be 1 to 200 visible ASCII characters")
    .optional()
    .openapi({
      description:
        "Makes a retry safe: a repeat with the same key by the same user answers the first 201 again (same body) " +
        "and sends and stores nothing new, even when both arrive at once. The key is stored with the send in one transaction. " +
        "The same key with a different request gets 422 `idempotency_key_reused`. Only a 201 is remembered: after an error " +
        "the key is still unused. A key is remembered for 24 hours by default (the server's `--idempotency-key-ttl`); after that it is " +
        "new again: a send with it sends anew. 1 to 200 visible ASCII characters, e.g. a UUID.",
      example: "3f1c7b9e-2d4a-4b8e-9f61-0c5d2a7e8b14",
    }),
});

/** A username anywhere in a request: the one rule of src/chat/username.ts, so a malformed name is 400, never 404 or 401. */
export const Username = wellFormedString()
  .min(1)
  .max(USERNAME_MAX_LENGTH)
  .regex(USERNAME_PATTERN, `a username is ${USERNAME_RULE}`)
  .openapi({ description: `A username: ${USERNAME_RULE}; anything else is 400 \`validation_error\`.`, example: "luke" });

/** The `{username}` of /blocks/{username} and /private/{username}. */
export const UsernameParam = z.object({
  username: Username.openapi({ param: { name: "username", in: "path" }, example: "luke" }),
});

export const UserList = z.object({ users: z.array(z.string()).openapi({ example: ["luke", "yoda"] }) }).openapi("UserList");

export const Message = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    from: z.string().openapi({ example: "hans" }),
    to: z.string().openapi({ example: "luke" }),
    text: z.string().openapi({ example: "Hey Dude" }),
    sentAt: z.string().openapi({ example: "2026-11-25T14:00:00.000Z" }),
  })
  .openapi("Message");
