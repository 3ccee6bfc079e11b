import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordOf, startTestServer } from "../support/chat.js";
import { EventReader } from "../support/sse.js";

// Over a real socket, since the default p2pHost is the address the login came from.
const hans = "hans";
const luke = "luke";
let server: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  server = await startTestServer([hans, luke]);
});
afterAll(() => server.close());

async function login(username: string, p2pPort: number): Promise<string> {
  const response = await fetch(`${server.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: passwordOf(username), p2pPort }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

describe("a login with p2pPort and no p2pHost", () => {
  it("is reachable at the address the login came from", async () => {
    const hansToken = await login(hans, 50001);
    const lukeToken = await login(luke, 50002);
    const lukeEvents = await fetch(`${server.url}/events`, { headers: { authorization: `Bearer ${lukeToken}` } });
    const lukeStream = new EventReader(lukeEvents);
    try {
      const response = await fetch(`${server.url}/private/${luke}`, {
        method: "POST",
        headers: { authorization: `Bearer ${hansToken}` },
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { secret: string };
      expect(body).toEqual({
        username: luke,
        address: { host: "127.0.0.1", port: 50002 },
        secret: expect.any(String),
        detail: `Start private messaging with ${luke}`,
      });
      expect((await lukeStream.next("private_started")).data).toEqual({
        from: hans,
        address: { host: "127.0.0.1", port: 50001 },
        secret: body.secret,
      });
    } finally {
      await lukeStream.close();
    }
  });
});
