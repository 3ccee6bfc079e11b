import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";
import { expectProblem, expectValidationError, streamTracker } from "../support/http.js";

const MAX_BODY_BYTES = 64 * 1024;

let chat: TestChat;
const streams = streamTracker(() => chat);
beforeAll(async () => {
  chat = await createTestChat();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await streams.closeAll();
  await chat.endAllSessions();
});
afterAll(() => chat.close());

async function historyOf(token: string) {
  const response = await chat.request("GET", "/messages", { token });
  expect(response.status).toBe(200);
  return ((await response.json()) as { messages: unknown[] }).messages;
}

/** hans and luke online, luke listening: to show a rejected message reaches no one. */
async function pair() {
  const { hans, luke } = await chat.users("hans", "luke");
  const hansToken = await chat.login(hans);
  const lukeStream = await streams.open(await chat.login(luke));
  return { hans, luke, hansToken, lukeStream };
}

describe("routing errors", () => {
  it("answers an unknown route with a 404 problem", async () => {
    const body = await expectProblem(await chat.request("GET", "/no/such/route"), 404, "not_found");
    expect(body.detail).toContain("/no/such/route");
  });

  it.each([
    ["PATCH", "/messages", ["GET", "POST"]],
    ["DELETE", "/login", ["POST"]],
    ["GET", "/blocks/luke", ["PUT", "DELETE"]],
    ["PUT", "/users/online", ["GET"]],
  ])("answers %s %s with 405 and the allowed methods", async (method, path, allowed) => {
    const response = await chat.request(method, path);
    const allow = response.headers.get("allow");
    await expectProblem(response, 405, "method_not_allowed");
    expect(allow?.split(/,\s*/)).toEqual(expect.arrayContaining(allowed));
  });
});

describe("request body errors", () => {
  it("rejects malformed JSON with 400 and stores nothing", async () => {
    const { luke, hansToken, lukeStream } = await pair();
    const response = await chat.request("POST", "/messages", {
      token: hansToken,
      headers: { "content-type": "application/json" },
      body: `{"to":"${luke}","text":"hi"`,
    });
    await expectProblem(response, 400, "validation_error");
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
    expect(await historyOf(hansToken)).toEqual([]);
  });

  it("rejects malformed JSON on login with 400", async () => {
    await expectProblem(
      await chat.request("POST", "/login", { headers: { "content-type": "application/json" }, body: "{username:" }),
      400,
      "validation_error",
    );
  });

  it("rejects a body that is not sent as JSON with 415 and stores nothing", async () => {
    const { luke, hansToken, lukeStream } = await pair();
    const response = await chat.request("POST", "/messages", {
      token: hansToken,
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ to: luke, text: "hi" }),
    });
    await expectProblem(response, 415, "unsupported_media_type");
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
    expect(await historyOf(hansToken)).toEqual([]);
  });

  it("rejects a login sent as a form or plain text with 415", async () => {
    const { hans } = await chat.users("hans");
    await expectProblem(
      await chat.request("POST", "/login", {
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ username: hans, password: "x" }),
      }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(
      await chat.request("POST", "/login", {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `username=${hans}&password=x`,
      }),
      415,
      "unsupported_media_type",
    );
  });

  it("accepts application/json with a charset parameter", async () => {
    const { luke, hansToken, lukeStream } = await pair();
    const response = await chat.request("POST", "/messages", {
      token: hansToken,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ to: luke, text: "with charset" }),
    });
    expect(response.status).toBe(201);
    expect((await lukeStream.next("message")).data).toMatchObject({ text: "with charset" });
  });

  it("rejects a login without a body with 400", async () => {
    await expectValidationError(await chat.request("POST", "/login"));
  });

  it("rejects a body over 64 KiB with 413 and stores nothing", async () => {
    const { luke, hansToken, lukeStream } = await pair();
    const body = JSON.stringify({ to: luke, text: "x".repeat(MAX_BODY_BYTES) });
    expect(body.length).toBeGreaterThan(MAX_BODY_BYTES);
    const response = await chat.request("POST", "/messages", {
      token: hansToken,
      headers: { "content-type": "application/json" },
      body,
    });
    await expectProblem(response, 413, "payload_too_large");
    expect(await lukeStream.quietFor(200, "message")).toEqual([]);
    expect(await historyOf(hansToken)).toEqual([]);
  });

  it("rejects a body over 64 KiB even before authentication", async () => {
    const { hans } = await chat.users("hans");
    const response = await chat.request("POST", "/login", {
      json: { username: hans, password: "p".repeat(MAX_BODY_BYTES + 1) },
    });
    await expectProblem(response, 413, "payload_too_large");
  });

  it("rejects a streamed body over 64 KiB that declares no length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 5) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await chat.app.request("/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await expectProblem(response, 413, "payload_too_large");
  });
});

describe("every problem", () => {
  it("carries type, title, status, code, detail and a request id, whatever went wrong", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await chat.login(hans);
    const cases: [Response, number][] = [
      [await chat.request("GET", "/nowhere"), 404],
      [await chat.request("PATCH", "/messages"), 405],
      [await chat.request("GET", "/users/online"), 401],
      [await chat.request("POST", "/messages", { token, json: { to: luke } }), 400],
      [await chat.request("POST", "/messages", { token, json: { to: hans, text: "me" } }), 422],
      [await chat.request("PUT", `/blocks/${hans}_nobody`, { token }), 404],
      [await chat.request("POST", "/login", { json: { username: luke, password: "wrong" } }), 401],
    ];
    const requestIds = new Set<string>();
    for (const [response, status] of cases) {
      const text = await response.text();
      expect(response.status, text).toBe(status);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      const body = JSON.parse(text) as Record<string, unknown>;
      for (const member of ["type", "title", "code", "detail", "requestId"]) expect(typeof body[member], member).toBe("string");
      expect(body.status).toBe(status);
      requestIds.add(body.requestId as string);
    }
    expect(requestIds.size).toBe(cases.length);
  });

  it("repeats its request id in the X-Request-Id header", async () => {
    const response = await chat.request("GET", "/nowhere");
    const body = (await response.json()) as { requestId: string };
    expect(response.headers.get("x-request-id")).toBe(body.requestId);
  });
});

describe("an internal error", () => {
  it("answers 500 with a request id and nothing about the cause", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const reported = vi.spyOn(console, "error").mockImplementation(() => {});
    const secret = "connection to db-primary.internal:5432 failed for user chat_admin";
    vi.spyOn(chat.context.tokens, "verify").mockRejectedValueOnce(new Error(secret));

    const response = await chat.request("GET", "/users/online", { token });
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["code", "detail", "requestId", "status", "title", "type"]);
    expect(body).toMatchObject({ status: 500, code: "internal_error" });
    expect(text).not.toContain("db-primary");
    expect(text).not.toContain("chat_admin");
    expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(reported).toHaveBeenCalledWith(expect.objectContaining({ message: secret }));

    expect((await chat.request("GET", "/users/online", { token })).status).toBe(200);
  });
});
