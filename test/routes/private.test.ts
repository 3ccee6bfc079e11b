import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { queryRows } from "../../src/db/client.js";
import type { TestChat } from "../support/chat.js";
import { expectProblem, sharedChat } from "../support/http.js";

type PrivateSession = {
  username: string;
  address: { host: string; port: number } | null;
  secret: string;
  startedAt: string;
  startedByMe: boolean;
};

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

const HANS_ADDRESS = { host: "10.0.0.1", port: 50001 };
const LUKE_ADDRESS = { host: "10.0.0.2", port: 50002 };

const loginAt = (username: string, address: { host: string; port: number }) =>
  chat.login(username, { p2pHost: address.host, p2pPort: address.port });

const start = (token: string, username: string) => chat.request("POST", `/private/${username}`, { token });
const stop = (token: string, username: string) => chat.request("DELETE", `/private/${username}`, { token });

async function startOk(token: string, username: string): Promise<{ secret: string }> {
  const response = await start(token, username);
  expect(response.status, await response.clone().text()).toBe(200);
  return response.json();
}

/** A private-session secret: base64url of at least 128 random bits. */
function expectSecret(secret: unknown) {
  expect(secret).toEqual(expect.stringMatching(/^[\w-]+$/));
  expect(Buffer.from(String(secret), "base64url").length).toBeGreaterThanOrEqual(16);
}

async function sessionsOf(token: string): Promise<PrivateSession[]> {
  const response = await chat.request("GET", "/private", { token });
  expect(response.status).toBe(200);
  return ((await response.json()) as { sessions: PrivateSession[] }).sessions;
}

/** hans and luke online with peer addresses, luke listening to his stream. */
async function twoPeers() {
  const { hans, luke } = await chat.users("hans", "luke");
  const hansToken = await loginAt(hans, HANS_ADDRESS);
  const lukeToken = await loginAt(luke, LUKE_ADDRESS);
  const lukeStream = await streams.open(lukeToken);
  return { hans, luke, hansToken, lukeToken, lukeStream };
}

describe("POST /private/{username} (startprivate)", () => {
  it("returns the peer's address and the session's secret, and tells the peer ours with the same secret", async () => {
    const { hans, luke, hansToken, lukeStream } = await twoPeers();
    const response = await start(hansToken, luke);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { secret: string };
    expect(body).toEqual({
      username: luke,
      address: LUKE_ADDRESS,
      secret: expect.any(String),
      detail: `Start private messaging with ${luke}`,
    });
    expectSecret(body.secret);
    const event = await lukeStream.next("private_started");
    expect(event.id).toEqual(expect.stringMatching(/^\d+$/));
    expect(event.data).toEqual({ from: hans, address: HANS_ADDRESS, secret: body.secret });
  });

  it("tells the peer a null address when the caller gave none", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await chat.login(hans);
    const lukeStream = await streams.open(await loginAt(luke, LUKE_ADDRESS));
    const { secret } = await startOk(hansToken, luke);
    expect((await lukeStream.next("private_started")).data).toEqual({ from: hans, address: null, secret });
  });

  it("refuses yourself", async () => {
    const { hans } = await chat.users("hans");
    const token = await loginAt(hans, HANS_ADDRESS);
    await expectProblem(await start(token, hans), 422, "self_target");
    expect(await sessionsOf(token)).toEqual([]);
  });

  it("refuses an unknown user", async () => {
    const { hans } = await chat.users("hans");
    const token = await loginAt(hans, HANS_ADDRESS);
    await expectProblem(await start(token, `${hans}_nobody`), 404, "unknown_user", "Error. Invalid user");
  });

  it("refuses an offline user", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const token = await loginAt(hans, HANS_ADDRESS);
    await expectProblem(await start(token, luke), 409, "user_offline");
    expect(await sessionsOf(token)).toEqual([]);
  });

  it("refuses a peer who gave a p2p port but has no host (no p2pHost, no client address known)", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await loginAt(hans, HANS_ADDRESS);
    // In-process there is no socket, so no client address to fall back on.
    await chat.login(luke, { p2pPort: 7000 });
    await expectProblem(await start(hansToken, luke), 409, "no_peer_address");
    expect(await sessionsOf(hansToken)).toEqual([]);
  });

  it("refuses a peer who logged in without a p2p port", async () => {
    const { hans, luke } = await chat.users("hans", "luke");
    const hansToken = await loginAt(hans, HANS_ADDRESS);
    const lukeStream = await streams.open(await chat.login(luke));
    await expectProblem(await start(hansToken, luke), 409, "no_peer_address");
    expect(await sessionsOf(hansToken)).toEqual([]);
    expect(await lukeStream.quietFor(200, "private_started")).toEqual([]);
  });

  it("refuses a peer who blocked the caller without revealing the address", async () => {
    const { luke, hans, hansToken, lukeToken, lukeStream } = await twoPeers();
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeToken })).status).toBe(200);
    const response = await start(hansToken, luke);
    const raw = await response.clone().text();
    const body = await expectProblem(response, 403, "blocked");
    expect(body).not.toHaveProperty("address");
    expect(raw).not.toContain(LUKE_ADDRESS.host);
    expect(raw).not.toContain(String(LUKE_ADDRESS.port));
    expect(await lukeStream.quietFor(300, "private_started")).toEqual([]);
    expect(await sessionsOf(hansToken)).toEqual([]);
    expect(await sessionsOf(lukeToken)).toEqual([]);
  });

  it("keeps one session and its secret when started again from either side, and re-sends the notice", async () => {
    const { hans, luke, hansToken, lukeToken, lukeStream } = await twoPeers();
    const hansStream = await streams.open(hansToken);
    const { secret } = await startOk(hansToken, luke);
    expect(await startOk(hansToken, luke)).toMatchObject({ secret });
    expect(await startOk(lukeToken, hans)).toMatchObject({ secret });
    expect((await lukeStream.next("private_started")).data).toEqual({ from: hans, address: HANS_ADDRESS, secret });
    expect((await lukeStream.next("private_started")).data).toEqual({ from: hans, address: HANS_ADDRESS, secret });
    expect((await hansStream.next("private_started")).data).toEqual({ from: luke, address: LUKE_ADDRESS, secret });
    expect(await sessionsOf(hansToken)).toMatchObject([{ username: luke, startedByMe: true }]);
  });

  it("gives one session and one secret to two users starting it with each other at once", async () => {
    const { hans, luke, hansToken, lukeToken } = await twoPeers();
    const [fromHans, fromLuke] = await Promise.all([startOk(hansToken, luke), startOk(lukeToken, hans)]);
    expect(fromLuke.secret).toBe(fromHans.secret);
    expect(await sessionsOf(hansToken)).toHaveLength(1);
    expect(await sessionsOf(lukeToken)).toHaveLength(1);
  });

  it("gives a session started after a stop a new secret, and keeps no secret of an ended one", async () => {
    const { hans, luke, hansToken, lukeStream } = await twoPeers();
    const first = await startOk(hansToken, luke);
    expect((await stop(hansToken, luke)).status).toBe(204);
    const second = await startOk(hansToken, luke);
    expectSecret(second.secret);
    expect(second.secret).not.toBe(first.secret);
    expect((await lukeStream.next("private_started")).data).toMatchObject({ secret: first.secret });
    expect((await lukeStream.next("private_started")).data).toMatchObject({ secret: second.secret });
    const stored = await queryRows<{ secret: string | null; ended: boolean }>(
      chat.db,
      sql`select secret, ended_at is not null as ended from private_sessions where initiator = ${hans} order by id`,
    );
    expect(stored).toEqual([
      { secret: null, ended: true },
      { secret: second.secret, ended: false },
    ]);
  });
});

describe("GET /private", () => {
  it("lists the live sessions on both sides with each peer's address and the session's secret", async () => {
    const { hans, luke, hansToken, lukeToken } = await twoPeers();
    const { secret } = await startOk(hansToken, luke);
    expect(await sessionsOf(hansToken)).toEqual([
      { username: luke, address: LUKE_ADDRESS, secret, startedAt: expect.any(String), startedByMe: true },
    ]);
    expect(await sessionsOf(lukeToken)).toEqual([
      { username: hans, address: HANS_ADDRESS, secret, startedAt: expect.any(String), startedByMe: false },
    ]);
  });
});

describe("DELETE /private/{username} (stopprivate)", () => {
  it("ends the session and tells the peer it was stopped", async () => {
    const { hans, luke, hansToken, lukeToken, lukeStream } = await twoPeers();
    await startOk(hansToken, luke);
    const response = await stop(hansToken, luke);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect((await lukeStream.next("private_stopped")).data).toEqual({ from: hans, reason: "stopped" });
    expect(await sessionsOf(hansToken)).toEqual([]);
    expect(await sessionsOf(lukeToken)).toEqual([]);
  });

  it("lets the peer who did not start it stop it too", async () => {
    const { hans, luke, hansToken, lukeToken } = await twoPeers();
    const hansStream = await streams.open(hansToken);
    await startOk(hansToken, luke);
    expect((await stop(lukeToken, hans)).status).toBe(204);
    expect((await hansStream.next("private_stopped")).data).toEqual({ from: luke, reason: "stopped" });
    expect(await sessionsOf(hansToken)).toEqual([]);
  });

  it("says private messaging was not enabled when there is no session", async () => {
    const { luke, hansToken } = await twoPeers();
    await expectProblem(
      await stop(hansToken, luke),
      404,
      "private_not_enabled",
      `Error. Private messaging to ${luke} not enabled`,
    );
    await startOk(hansToken, luke);
    expect((await stop(hansToken, luke)).status).toBe(204);
    await expectProblem(
      await stop(hansToken, luke),
      404,
      "private_not_enabled",
      `Error. Private messaging to ${luke} not enabled`,
    );
  });

  it("refuses an unknown user", async () => {
    const { hans } = await chat.users("hans");
    const token = await loginAt(hans, HANS_ADDRESS);
    await expectProblem(await stop(token, `${hans}_nobody`), 404, "unknown_user", "Error. Invalid user");
  });
});

describe("private sessions and the rest of the chat", () => {
  it("end when one side logs out, and the other side is told", async () => {
    const { hans, luke, hansToken, lukeToken, lukeStream } = await twoPeers();
    await startOk(hansToken, luke);
    expect((await chat.request("POST", "/logout", { token: hansToken })).status).toBe(204);
    expect((await lukeStream.next("private_stopped")).data).toEqual({ from: hans, reason: "logout" });
    expect(await sessionsOf(lukeToken)).toEqual([]);
  });

  it("survive a block placed after they started", async () => {
    const { hans, luke, hansToken, lukeToken, lukeStream } = await twoPeers();
    const hansStream = await streams.open(hansToken);
    await startOk(hansToken, luke);
    expect((await chat.request("PUT", `/blocks/${hans}`, { token: lukeToken })).status).toBe(200);
    expect(await sessionsOf(lukeToken)).toMatchObject([{ username: hans, address: HANS_ADDRESS }]);
    expect(await sessionsOf(hansToken)).toMatchObject([{ username: luke, address: LUKE_ADDRESS }]);
    expect(await hansStream.quietFor(300, "private_stopped")).toEqual([]);
    expect(lukeStream.events.filter((event) => event.event === "private_stopped")).toEqual([]);
  });
});
