import { afterAll, afterEach, beforeAll, expect, vi } from "vitest";
import type { EventReader } from "./sse.js";
import { createTestChat, type TestChat } from "./chat.js";

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  requestId: string;
  errors?: { path: string; message: string }[];
  attemptsLeft?: number;
  retryAfter?: number;
};

/**
 * Asserts an RFC 9457 problem: status, content type, the members every problem carries, the
 * request id matching X-Request-Id, the code and (when given) the exact detail. Returns the body.
 */
export async function expectProblem(response: Response, status: number, code: string, detail?: string): Promise<ProblemBody> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const body = JSON.parse(text) as ProblemBody;
  expect(body).toMatchObject({
    type: expect.stringMatching(/^\/problems\/[a-z-]+$/),
    title: expect.any(String),
    status,
    code,
    detail: detail ?? expect.any(String),
    requestId: expect.any(String),
  });
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.detail.length).toBeGreaterThan(0);
  expect(response.headers.get("x-request-id")).toBe(body.requestId);
  return body;
}

/** Asserts a validation_error naming `path` among its field errors. */
export async function expectValidationError(response: Response, path?: string): Promise<ProblemBody> {
  const body = await expectProblem(response, 400, "validation_error");
  expect(body.errors).toEqual(expect.any(Array));
  expect(body.errors!.length).toBeGreaterThan(0);
  for (const error of body.errors!) expect(error).toEqual({ path: expect.any(String), message: expect.any(String) });
  if (path !== undefined) expect(body.errors!.map((error) => error.path)).toContain(path);
  return body;
}

/**
 * Event streams opened in a test, closed afterwards so no reader outlives its test. `open` returns
 * once the stream is attached to the hub, so live-only events (presence) sent next cannot miss it
 * and a "nothing arrived" check is not passing merely because the stream was not listening yet.
 */
export function streamTracker(chat: () => TestChat) {
  const open: EventReader[] = [];
  return {
    async open(token: string, headers?: Record<string, string>): Promise<EventReader> {
      const hub = chat().context.hub;
      const before = hub.streamCount();
      const reader = await chat().events(token, headers);
      open.push(reader);
      await vi.waitFor(() => expect(hub.streamCount()).toBeGreaterThan(before), { timeout: 5000, interval: 10 });
      return reader;
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((reader) => reader.close()));
    },
  };
}

/**
 * One chat for a whole test file (a database costs seconds), handed to `use` once it exists. After
 * each test its tracked streams close and every session ends, so "who is online" starts empty.
 */
export function sharedChat(use: (chat: TestChat) => void) {
  let chat: TestChat;
  const streams = streamTracker(() => chat);
  beforeAll(async () => {
    chat = await createTestChat();
    use(chat);
  });
  afterEach(async () => {
    await streams.closeAll();
    await chat.endAllSessions();
  });
  afterAll(() => chat.close());
  return streams;
}
