import { z } from "zod";
import { sessionSecretSchema } from "./peer-handshake.js";

/** The shapes of the server's answers that the client reads; anything else in them is ignored. */

export const loginAnswer = z.object({
  token: z.string().min(1),
  username: z.string().min(1),
  detail: z.string().optional(),
});

export const detailAnswer = z.object({ detail: z.string().optional() });

export const usersAnswer = z.object({ users: z.array(z.string()) });

export const privateAnswer = z.object({
  address: z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  secret: sessionSecretSchema,
  detail: z.string().optional(),
});
