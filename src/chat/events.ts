/** Events that are numbered per user, stored, and replayed on resume. */
export type DurableEventType = "message" | "broadcast" | "private_started" | "private_stopped";
/** Events sent only to streams open at the time; never stored, never numbered. */
export type LiveEventType = "presence" | "session_ended" | "resync";

export type DurableEvent = { id: number; type: DurableEventType; data: Record<string, unknown> };
export type LiveEvent = { type: LiveEventType; data: Record<string, unknown> };

export type SessionEndReason = "logout" | "timeout";

const encoder = new TextEncoder();

/** A fan-out hands every recipient the same data object: serialise it once. */
const serialised = new WeakMap<object, string>();
function dataJson(data: Record<string, unknown>): string {
  let json = serialised.get(data);
  if (json === undefined) serialised.set(data, (json = JSON.stringify(data)));
  return json;
}

/** One SSE frame; durable events carry `id:` so a client's resume point moves only with them. */
export function encodeEvent(event: DurableEvent | LiveEvent): Uint8Array {
  const idLine = "id" in event ? `id: ${event.id}\n` : "";
  return encoder.encode(`${idLine}event: ${event.type}\ndata: ${dataJson(event.data)}\n\n`);
}

export const encodeComment = (text: string): Uint8Array => encoder.encode(`: ${text}\n\n`);
