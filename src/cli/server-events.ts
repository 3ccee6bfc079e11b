import { z } from "zod";
import { endReasonSchema } from "./peer-frames.js";
import { sessionSecretSchema } from "./peer-handshake.js";

/** The events of GET /events the client acts on, by their SSE event name; extra fields are ignored. */
const serverEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message"), from: z.string(), text: z.string() }),
  z.object({ type: z.literal("broadcast"), from: z.string(), text: z.string() }),
  z.object({ type: z.literal("presence"), username: z.string(), status: z.enum(["online", "offline"]) }),
  z.object({
    type: z.literal("private_started"),
    from: z.string(),
    // null when the caller gave no address of their own; they dial us all the same
    address: z.object({ host: z.string(), port: z.number() }).nullable(),
    // what they must prove when they connect; without it no caller is let in
    secret: sessionSecretSchema,
  }),
  z.object({ type: z.literal("private_stopped"), from: z.string(), reason: endReasonSchema.catch("stopped") }),
  z.object({ type: z.literal("session_ended"), reason: z.enum(["logout", "timeout"]).catch("logout") }),
  z.object({ type: z.literal("resync"), reason: z.string().optional() }),
]);

export type ServerEvent = z.infer<typeof serverEventSchema>;

/** The event an SSE message carries, or undefined for an unknown event or data of the wrong shape. */
export function parseServerEvent(eventName: string, data: string): ServerEvent | undefined {
  let fields: unknown;
  try {
    fields = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof fields !== "object" || fields === null) return undefined;
  const parsed = serverEventSchema.safeParse({ ...fields, type: eventName });
  return parsed.success ? parsed.data : undefined;
}
