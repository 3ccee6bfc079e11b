import { z } from "zod";
import { USERNAME_PATTERN } from "../chat/username.js";
import { nonceSchema, proofSchema } from "./peer-handshake.js";

/**
 * The wire format between two peers: one JSON object per line.
 *   {"type":"hello","from":"hans","nonce":"...","proof":"..."}  the dialler's first frame: who I am, and proof
 *                                                               that I hold the session's secret (peer-handshake.ts)
 *   {"type":"welcome","from":"luke","proof":"..."}              the acceptor's answer, with its own proof
 *   {"type":"message","from":"hans","text":"..."}               a private message
 *   {"type":"bye","from":"hans","reason":"stopped"}             the session ends ("stopped", "logout" or "timeout")
 */

const MAX_PRIVATE_TEXT_LENGTH = 10_000;

/** Longest line we buffer from a peer; anything longer breaks the connection instead of filling memory. */
export const MAX_FRAME_LENGTH = 64 * 1024;

/** Longest line we buffer from a caller who has not yet proved who they are. */
export const MAX_HELLO_LENGTH = 1024;

/** The server's own username rule: a peer naming itself otherwise is not one of its users. */
const username = z.string().regex(USERNAME_PATTERN);

export const endReasonSchema = z.enum(["stopped", "logout", "timeout"]);
export type EndReason = z.infer<typeof endReasonSchema>;

const frameSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("hello"), from: username, nonce: nonceSchema, proof: proofSchema }),
  z.strictObject({ type: z.literal("welcome"), from: username, proof: proofSchema }),
  z.strictObject({
    type: z.literal("message"),
    from: username,
    text: z.string().min(1).max(MAX_PRIVATE_TEXT_LENGTH),
  }),
  z.strictObject({ type: z.literal("bye"), from: username, reason: endReasonSchema.optional() }),
]);

export type PeerFrame = z.infer<typeof frameSchema>;
export type HelloFrame = Extract<PeerFrame, { type: "hello" }>;

export function encodeFrame(frame: PeerFrame): string {
  return `${JSON.stringify(frame)}\n`;
}

/** The frame a line holds, or undefined when the line is not exactly one valid frame. */
export function decodeFrame(line: string): PeerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = frameSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export type FrameReaderHandlers = {
  onFrame(frame: PeerFrame): void;
  /** Called once; the reader ignores everything after it. */
  onMalformed(): void;
};

/**
 * Turns a stream of text chunks into frames, whatever the chunk boundaries. `maxLength` is asked after
 * each chunk, so the bound can tighten or loosen as the connection's state changes.
 */
export function createFrameReader(
  handlers: FrameReaderHandlers,
  maxLength: () => number = () => MAX_FRAME_LENGTH,
): { push(chunk: string): void } {
  let pending = "";
  let broken = false;

  const fail = () => {
    broken = true;
    pending = "";
    handlers.onMalformed();
  };

  return {
    push(chunk) {
      if (broken) return;
      pending += chunk;
      let newline = pending.indexOf("\n");
      while (newline !== -1) {
        const frame = decodeFrame(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        if (frame === undefined) return fail();
        handlers.onFrame(frame);
        newline = pending.indexOf("\n");
      }
      if (pending.length > maxLength()) fail();
    },
  };
}
