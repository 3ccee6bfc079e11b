import net from "node:net";
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeFrame } from "../../src/cli/peer-frames.js";
import { handshakeProof, newNonce } from "../../src/cli/peer-handshake.js";
import { queryRows } from "../../src/db/client.js";
import { apiLogin, everythingStored, historyTexts, logIn, useChatServer, type PipedClient } from "./harness.js";

const chatServer = useChatServer([
  "hans",
  "luke",
  "yoda",
  "leia",
  "obiwan",
  "padme",
  "anakin",
  "chewie",
  "lando",
  "rey",
  "finn",
  "jabba",
  "bb8",
  "wedge",
  "biggs",
  "ackbar",
]);

afterEach(() => vi.restoreAllMocks());

/** Starts a private session from `from` to `to` and waits until both sides are told. */
async function startPrivate(from: PipedClient, fromName: string, to: PipedClient, toName: string) {
  from.type(`startprivate ${toName}`);
  await from.sees(`Start private messaging with ${toName}\n`);
  await to.sees(`${fromName} started private messaging with you\n`);
}

/** Sends a message through the server and waits for it: every server event sent to `to` before it has arrived too. */
async function viaServer(from: PipedClient, fromName: string, to: PipedClient, toName: string, text: string) {
  from.type(`message ${toName} ${text}`);
  await to.sees(`${fromName}: ${text}\n`);
}

/** Where `username`'s client listens for peers, as it told the server at login. */
async function peerPortOf(username: string): Promise<number> {
  const [row] = await queryRows<{ port: number }>(
    chatServer().database.db,
    sql`select p2p_port as port from sessions where username = ${username} and ended_at is null`,
  );
  if (row === undefined) throw new Error(`${username} is not online`);
  return row.port;
}

/** The secret of the latest private session the server announced to `username`. */
async function lastAnnouncedSecret(username: string): Promise<string> {
  const [row] = await queryRows<{ secret: string }>(
    chatServer().database.db,
    sql`select data->>'secret' as secret from events where username = ${username} and type = 'private_started' order by id desc limit 1`,
  );
  if (row === undefined) throw new Error(`no private_started for ${username}`);
  return row.secret;
}

/** Dials a client's peer port, sends one line, and resolves with what came back once the client closed the connection. */
async function dialWith(port: number, line: string): Promise<string> {
  const socket = net.connect({ host: "127.0.0.1", port });
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  socket.on("error", () => undefined);
  socket.once("connect", () => socket.write(line));
  await new Promise((resolve) => socket.once("close", resolve));
  return received;
}

function helloLine(from: string, to: string, secret: string): string {
  const nonce = newNonce();
  return encodeFrame({ type: "hello", from, nonce, proof: handshakeProof(secret, "dial", from, to, nonce) });
}

describe("private messaging between two terminal clients", () => {
  it("carries messages both ways over one connection while messages through the server still flow", async () => {
    // The clients run in this process: every request they make to the server goes through fetch.
    const requests = vi.spyOn(globalThis, "fetch");
    const luke = await logIn(chatServer(), "luke");
    const hans = await logIn(chatServer(), "hans");
    const yoda = await logIn(chatServer(), "yoda");

    await startPrivate(hans, "hans", luke, "luke");
    hans.type("private luke hey dude");
    await luke.sees("hans(private): hey dude\n");
    hans.type("message luke Hey Dude");
    await luke.sees("hans: Hey Dude\n");
    // luke answers over the connection hans opened, without a startprivate of his own.
    luke.type("private hans the plans are in the droid");
    await hans.sees("luke(private): the plans are in the droid\n");
    yoda.type("broadcast Hello everyone");
    await hans.sees("yoda: Hello everyone\n");
    await luke.sees("yoda: Hello everyone\n");
    luke.type("message hans back through the server", "private hans and privately again");
    await hans.sees("luke: back through the server\n");
    await hans.sees("luke(private): and privately again\n");

    expect(luke.output()).not.toContain("Start private messaging");
    const sessions = await queryRows<{ initiator: string; peer: string }>(
      chatServer().database.db,
      sql`select initiator, peer from private_sessions where initiator in ('hans', 'luke')`,
    );
    expect(sessions).toEqual([{ initiator: "hans", peer: "luke" }]);

    // The server never sees a private text: not in any request, nor in anything it stored, nor in either user's history.
    const privateTexts = ["hey dude", "the plans are in the droid", "and privately again"];
    const sent = JSON.stringify(
      requests.mock.calls.map(([url, init]) => [url instanceof Request ? url.url : String(url), init?.body ?? null]),
    );
    expect(sent).toContain("Hey Dude");
    for (const text of privateTexts) expect(sent).not.toContain(text);
    const stored = await everythingStored(chatServer());
    expect(stored).toContain("Hey Dude");
    for (const text of privateTexts) expect(stored).not.toContain(text);

    for (const client of [hans, luke, yoda]) client.type("logout");
    await Promise.all([hans.exit, luke.exit, yoda.exit]);
    const hansToken = await apiLogin(chatServer(), "hans");
    const lukeToken = await apiLogin(chatServer(), "luke");
    expect(await historyTexts(chatServer(), hansToken, "luke")).toEqual(["back through the server", "Hey Dude"]);
    expect(await historyTexts(chatServer(), lukeToken, "hans")).toEqual(["back through the server", "Hey Dude"]);
    for (const token of [hansToken, lukeToken]) {
      await fetch(`${chatServer().url}/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    }
  });

  it("lets in only a caller proving the secret of a live session with that user, and shows nothing of the others", async () => {
    const ackbar = await logIn(chatServer(), "ackbar");
    const wedge = await logIn(chatServer(), "wedge");
    const biggs = await logIn(chatServer(), "biggs");
    await startPrivate(wedge, "wedge", ackbar, "ackbar");
    const port = await peerPortOf("ackbar");
    const secret = await lastAnnouncedSecret("ackbar");

    const refused = await Promise.all([
      dialWith(port, '{"type":"hello","from":"wedge"}\n'), // no secret
      dialWith(port, helloLine("wedge", "ackbar", randomBytes(32).toString("base64url"))), // a wrong one
      dialWith(port, helloLine("biggs", "ackbar", secret)), // the right one, but biggs has no session with ackbar
    ]);
    expect(refused).toEqual(["", "", ""]);

    wedge.type("stopprivate ackbar");
    await ackbar.sees("wedge stopped private messaging with you\n");
    await viaServer(biggs, "biggs", ackbar, "ackbar", "the stop has reached you"); // and so has the server's notice
    expect(await dialWith(port, helloLine("wedge", "ackbar", secret))).toBe(""); // the ended session's

    wedge.type("private ackbar still there?");
    await wedge.sees("Error. Private messaging to ackbar not enabled\n");
    expect(ackbar.output().match(/started private messaging with you/g)).toHaveLength(1);
    expect(ackbar.output()).not.toContain("(private)");
    expect(ackbar.output()).not.toContain("Error");
  });

  it("refuses private without a session, and startprivate to self or to an offline user", async () => {
    const leia = await logIn(chatServer(), "leia");
    const obiwan = await logIn(chatServer(), "obiwan");
    leia.type("private obiwan help me");
    await leia.sees("Error. Private messaging to obiwan not enabled\n");
    leia.type("startprivate leia");
    await leia.sees("Error. Cannot start private messaging with self\n");
    leia.type("startprivate chewie");
    await leia.sees("Error. chewie is not online\n");
    leia.type("stopprivate obiwan");
    await leia.sees("Error. Private messaging to obiwan not enabled\n");
    obiwan.type("message leia only through the server");
    await leia.sees("obiwan: only through the server\n");
    expect(obiwan.output()).not.toContain("private");
    expect(leia.output()).not.toContain("obiwan(private)");
  });

  it("ends on stopprivate from either side, telling both, until started again", async () => {
    const padme = await logIn(chatServer(), "padme");
    const anakin = await logIn(chatServer(), "anakin");
    await startPrivate(padme, "padme", anakin, "anakin");
    anakin.type("private padme I don't like sand");
    await padme.sees("anakin(private): I don't like sand\n");

    anakin.type("stopprivate padme");
    await anakin.sees("Stopped private messaging with padme\n");
    await padme.sees("anakin stopped private messaging with you\n");
    padme.type("private anakin are you there?");
    await padme.sees("Error. Private messaging to anakin not enabled\n");
    anakin.type("private padme come back");
    await anakin.sees("Error. Private messaging to padme not enabled\n");

    await startPrivate(anakin, "anakin", padme, "padme");
    padme.type("private anakin welcome back");
    await anakin.sees("padme(private): welcome back\n");
    padme.type("stopprivate anakin");
    await padme.sees("Stopped private messaging with anakin\n");
    await anakin.sees("padme stopped private messaging with you\n");

    // Both the peer's goodbye and the server's notice came; each side was told once per stop.
    await viaServer(anakin, "anakin", padme, "padme", "last one");
    await viaServer(padme, "padme", anakin, "anakin", "last one");
    expect(padme.output().match(/stopped private messaging with you/g)).toHaveLength(1);
    expect(anakin.output().match(/stopped private messaging with you/g)).toHaveLength(1);
  });

  it("ends when the user who started it logs out, and tells the other side once", async () => {
    const lando = await logIn(chatServer(), "lando");
    const chewie = await logIn(chatServer(), "chewie");
    const jabba = await logIn(chatServer(), "jabba");
    await startPrivate(chewie, "chewie", lando, "lando");

    chewie.type("logout");
    expect(await chewie.exit).toBe(0);
    await lando.sees("Private messaging with chewie ended: chewie logged out\n");
    await lando.sees("chewie logged out\n");
    lando.type("private chewie are you still there?");
    await lando.sees("Error. Private messaging to chewie not enabled\n");
    await viaServer(jabba, "jabba", lando, "lando", "he is gone"); // the server's notice has come too
    expect(lando.output().match(/Private messaging with chewie ended/g)).toHaveLength(1);
  });

  it("ends when the user who was asked logs out, and tells the one who started it", async () => {
    const rey = await logIn(chatServer(), "rey");
    const finn = await logIn(chatServer(), "finn");
    const bb8 = await logIn(chatServer(), "bb8");
    await startPrivate(finn, "finn", rey, "rey");
    rey.type("private finn see you later");
    await finn.sees("rey(private): see you later\n");

    rey.type("logout");
    expect(await rey.exit).toBe(0);
    await finn.sees("Private messaging with rey ended: rey logged out\n");
    finn.type("private rey hello?");
    await finn.sees("Error. Private messaging to rey not enabled\n");
    await viaServer(bb8, "bb8", finn, "finn", "she is gone"); // the server's notice has come too
    expect(finn.output().match(/Private messaging with rey ended/g)).toHaveLength(1);
  });
});
