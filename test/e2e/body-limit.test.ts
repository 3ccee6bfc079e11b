import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http/body-limit.js";
import { passwordOf, startTestServer } from "../support/chat.js";

/** One raw HTTP/1.1 request, so the test decides exactly which length headers go out. */
function post(url: string, path: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const outgoing = request(
      `${url}${path}`,
      { method: "POST", headers: { "content-type": "application/json", ...headers } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

describe("the body size limit on a real server", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer(["hans"]);
  });
  afterAll(() => server.close());

  const login = (password: string) => JSON.stringify({ username: "hans", password });

  it("refuses a declared Content-Length over 64 KiB with 413 problem+json", async () => {
    const body = login("p".repeat(MAX_BODY_BYTES));
    const answer = await post(server.url, "/login", body, { "content-length": String(Buffer.byteLength(body)) });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 413, code: "payload_too_large" });
  });

  it("refuses a chunked body over 64 KiB with 413", async () => {
    const answer = await post(server.url, "/login", login("p".repeat(MAX_BODY_BYTES)), { "transfer-encoding": "chunked" });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "payload_too_large" });
  });

  it("reads a body under the limit, declared or chunked", async () => {
    const body = login(passwordOf("hans"));
    const declared = await post(server.url, "/login", body, { "content-length": String(Buffer.byteLength(body)) });
    expect(declared.status, declared.body).toBe(200);
    const token = (JSON.parse(declared.body) as { token: string }).token;
    const chunked = await post(server.url, "/logout", "", { authorization: `Bearer ${token}`, "transfer-encoding": "chunked" });
    expect(chunked.status, chunked.body).toBeLessThan(300);
  });
});
