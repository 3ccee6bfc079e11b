import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/chat.js";
import { httpClient, names } from "./client.js";

const users = names("hans", "luke");
const warmUp = names("obiwan");

let server: Awaited<ReturnType<typeof startTestServer>>;
let client: ReturnType<typeof httpClient>;
beforeAll(async () => {
  server = await startTestServer([...Object.values(users), warmUp.obiwan], { timeoutSeconds: 1 });
  client = httpClient(server);
  // One pass over the code paths first, so a cold start does not eat into the 1 s timeout below.
  // Nothing is asserted here: under load the warm-up session may time out half-way.
  const token = await client.login(warmUp.obiwan);
  await client.call("GET", "/users/online", token);
  const stream = await fetch(`${server.url}/events`, { headers: { authorization: `Bearer ${token}` } });
  await stream.body?.cancel();
  await client.call("POST", "/logout", token);
});
afterAll(() => server?.close());

describe("inactivity logout over HTTP", () => {
  it("logs out a user who sends nothing for the timeout and tells the others", async () => {
    const { hans, luke } = users;
    const hansToken = await client.login(hans);
    // hans stays active (a request every 200 ms) to watch luke time out.
    const statuses: (number | string)[] = [];
    const requests: Promise<unknown>[] = [];
    const activity = setInterval(() => {
      const request = client.call("GET", "/users/online", hansToken).then(
        (answer) => statuses.push(answer.status),
        (error: Error) => statuses.push(error.message),
      );
      requests.push(request);
    }, 200);
    try {
      const hansStream = await client.events(hans, hansToken);
      const lukeToken = await client.login(luke);
      const lukeStream = await client.events(luke, lukeToken);
      const started = Date.now();

      expect(await lukeStream.next("session_ended", 10_000)).toEqual({
        id: undefined,
        event: "session_ended",
        data: { reason: "timeout" },
      });
      await lukeStream.closed();
      expect(Date.now() - started).toBeLessThan(8000);
      expect((await hansStream.next("presence")).data).toMatchObject({ username: luke, status: "online" });
      expect((await hansStream.next("presence", 10_000)).data).toMatchObject({ username: luke, status: "offline" });
      const refused = await client.call("GET", "/users/online", lukeToken);
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe("unauthorized");
      expect(await client.online(hansToken)).not.toContain(luke);
      await hansStream.close();
    } finally {
      clearInterval(activity);
      await Promise.all(requests);
    }
    expect(
      statuses.filter((status) => status !== 200),
      `hans's statuses ${statuses}`,
    ).toEqual([]);
  });
});
