import { z } from "@hono/zod-openapi";
import { MAX_TEXT_LENGTH } from "../chat/context.js";

/** Message and broadcast text: 1 to 4,096 characters, not only white space. */
export const MessageText = z
  .string()
  .max(MAX_TEXT_LENGTH, `text must be at most ${MAX_TEXT_LENGTH} characters`)
  .refine((text) => text.trim().length > 0, "text must not be empty")
  .openapi({ example: "Hey Dude" });

export const Username = z.string().min(1).max(64).openapi({ example: "luke" });

export const UserList = z
  .object({ users: z.array(z.string()).openapi({ example: ["luke", "yoda"] }) })
  .openapi("UserList");

export const Message = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    from: z.string().openapi({ example: "hans" }),
    to: z.string().openapi({ example: "luke" }),
    text: z.string().openapi({ example: "Hey Dude" }),
    sentAt: z.string().openapi({ example: "2026-11-25T14:00:00.000Z" }),
  })
  .openapi("Message");
