import { describe, expect, it } from "vitest";
import { createFrameReader, decodeFrame, encodeFrame, MAX_FRAME_LENGTH, type PeerFrame } from "../../src/cli/peer-frames.js";

function readFrames(chunks: string[]) {
  const frames: PeerFrame[] = [];
  let malformed = 0;
  const reader = createFrameReader({ onFrame: (frame) => frames.push(frame), onMalformed: () => malformed++ });
  for (const chunk of chunks) reader.push(chunk);
  return { frames, malformed };
}

const NONCE = "q3Xk0yqT7d2oXyq8o1mBzA";
const PROOF = "q3Xk0yqT7d2oXyq8o1mBzJ9pR4vN6sWc5eLhAaF0uGk";
const HELLO: PeerFrame = { type: "hello", from: "hans", nonce: NONCE, proof: PROOF };

describe("peer frames", () => {
  it("encodes each frame as one JSON line and decodes it back", () => {
    const frames: PeerFrame[] = [
      HELLO,
      { type: "welcome", from: "luke", proof: PROOF },
      { type: "message", from: "hans", text: "hey dude\nsecond line" },
      { type: "bye", from: "hans", reason: "logout" },
      { type: "bye", from: "hans" },
    ];
    for (const frame of frames) {
      const line = encodeFrame(frame);
      expect(line.endsWith("\n")).toBe(true);
      expect(line.slice(0, -1)).not.toContain("\n");
      expect(decodeFrame(line.slice(0, -1))).toEqual(frame);
    }
    expect(encodeFrame(HELLO)).toBe(`{"type":"hello","from":"hans","nonce":"${NONCE}","proof":"${PROOF}"}\n`);
  });

  it.each([
    ["text that is not JSON", "hello hans"],
    ["JSON that is not an object", '"hello"'],
    ["an unknown type", '{"type":"shout","from":"hans"}'],
    ["a missing sender", `{"type":"hello","nonce":"${NONCE}","proof":"${PROOF}"}`],
    ["a sender with spaces", `{"type":"hello","from":"hans solo","nonce":"${NONCE}","proof":"${PROOF}"}`],
    ["a sender longer than the server's username rule", `{"type":"message","from":"${"h".repeat(33)}","text":"hi"}`],
    ["a sender with a control character", '{"type":"message","from":"ha\\u001bns","text":"hi"}'],
    ["a hello without nonce or proof", '{"type":"hello","from":"hans"}'],
    ["a hello without proof", `{"type":"hello","from":"hans","nonce":"${NONCE}"}`],
    ["a hello with a short nonce", `{"type":"hello","from":"hans","nonce":"abc","proof":"${PROOF}"}`],
    ["a proof of the wrong length", `{"type":"hello","from":"hans","nonce":"${NONCE}","proof":"${PROOF}A"}`],
    ["a proof that is not base64url", `{"type":"welcome","from":"luke","proof":"${PROOF.slice(0, -1)}="}`],
    ["a welcome without proof", '{"type":"welcome","from":"luke"}'],
    ["an empty message", '{"type":"message","from":"hans","text":""}'],
    ["a message without text", '{"type":"message","from":"hans"}'],
    ["a field of the wrong type", '{"type":"message","from":"hans","text":42}'],
    ["an unexpected field", `{"type":"hello","from":"hans","nonce":"${NONCE}","proof":"${PROOF}","admin":true}`],
    ["an unknown bye reason", '{"type":"bye","from":"hans","reason":"bored"}'],
  ])("rejects %s", (_name, line) => {
    expect(decodeFrame(line)).toBeUndefined();
  });
});

describe("the frame reader", () => {
  it("finds frames whatever the chunk boundaries", () => {
    const stream = encodeFrame(HELLO) + encodeFrame({ type: "message", from: "hans", text: "hi" });
    const { frames, malformed } = readFrames([stream.slice(0, 7), stream.slice(7, 40), stream.slice(40)]);
    expect(frames).toEqual([HELLO, { type: "message", from: "hans", text: "hi" }]);
    expect(malformed).toBe(0);
  });

  it("reports a malformed line once and ignores everything after it", () => {
    const good = encodeFrame(HELLO);
    const { frames, malformed } = readFrames([good, "garbage\n", good, good]);
    expect(frames).toHaveLength(1);
    expect(malformed).toBe(1);
  });

  it("gives up on a line longer than the limit instead of buffering it", () => {
    const { frames, malformed } = readFrames(["x".repeat(MAX_FRAME_LENGTH), "x"]);
    expect(frames).toHaveLength(0);
    expect(malformed).toBe(1);
  });

  it("asks for the limit at every chunk, so it can be tighter before the handshake", () => {
    let limit = 200;
    const frames: PeerFrame[] = [];
    let malformed = 0;
    const reader = createFrameReader({ onFrame: (frame) => frames.push(frame), onMalformed: () => malformed++ }, () => limit);
    reader.push(encodeFrame(HELLO));
    limit = MAX_FRAME_LENGTH;
    reader.push(encodeFrame({ type: "message", from: "hans", text: "x".repeat(500) }));
    expect(frames).toHaveLength(2);
    limit = 200;
    reader.push("x".repeat(201));
    expect(malformed).toBe(1);
  });
});
