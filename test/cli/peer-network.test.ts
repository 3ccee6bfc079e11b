import { randomBytes } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeFrame, MAX_HELLO_LENGTH } from "../../src/cli/peer-frames.js";
import { handshakeProof, newNonce } from "../../src/cli/peer-handshake.js";
import { listenForPeers, PeerError, type PeerEndReason, type PeerNetwork } from "../../src/cli/peer-network.js";

type Notice =
  | { kind: "opened"; peer: string }
  | { kind: "message"; peer: string; text: string }
  | { kind: "ended"; peer: string; reason: PeerEndReason };

const open: PeerNetwork[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((network) => network.close("logout")));
});

/** A logged-in user's peer network on loopback, recording what it would show. */
async function peerFor(username: string, handshakeTimeoutMs = 500) {
  const notices: Notice[] = [];
  const network = await listenForPeers({
    host: "127.0.0.1",
    handshakeTimeoutMs,
    events: {
      onOpened: (peer) => notices.push({ kind: "opened", peer }),
      onMessage: (peer, text) => notices.push({ kind: "message", peer, text }),
      onEnded: (peer, reason) => notices.push({ kind: "ended", peer, reason }),
    },
  });
  network.identify(username);
  open.push(network);
  return { network, notices, address: { host: "127.0.0.1", port: network.port } };
}

/** A session secret as the server makes them. */
const newSecret = () => randomBytes(32).toString("base64url");

/** The dialler's first frame, as a real client sends it: `from` proves to `to` that it holds `secret`. */
function helloLine(from: string, to: string, secret: string, nonce = newNonce()): string {
  return encodeFrame({ type: "hello", from, nonce, proof: handshakeProof(secret, "dial", from, to, nonce) });
}

/** The acceptor's answer to that hello. */
function welcomeLine(from: string, to: string, secret: string, nonce: string): string {
  return encodeFrame({ type: "welcome", from, proof: handshakeProof(secret, "accept", from, to, nonce) });
}

/** A fake peer listening on loopback that answers every hello with `answer(hello line)`. */
async function fakeListener(answer: (hello: string) => string) {
  const server = net.createServer((socket) => {
    socket.setEncoding("utf8");
    socket.once("data", (hello: string) => socket.write(answer(hello)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return { address: { host: "127.0.0.1", port: address.port }, close: () => server.close() };
}

/** A raw TCP client speaking to a peer network, for frames a real client would never send. */
async function rawSocket(port: number) {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise((resolve) => socket.once("connect", resolve));
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, closed, received: () => received };
}

describe("private messaging between two peers", () => {
  it("carries messages both ways over the connection the starter opened", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const secret = newSecret();
    luke.network.expectPeer("hans", secret); // the server's private_started

    await hans.network.connect("luke", luke.address, secret);
    hans.network.send("luke", "hey dude");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "message", peer: "hans", text: "hey dude" }));
    expect(luke.notices[0]).toEqual({ kind: "opened", peer: "hans" });

    luke.network.send("hans", "hi hans"); // luke never ran startprivate
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "message", peer: "luke", text: "hi hans" }));
  });

  it("accepts a starter whose hello arrives before the server's notice", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const secret = newSecret();

    const connecting = hans.network.connect("luke", luke.address, secret);
    await new Promise((resolve) => setTimeout(resolve, 50));
    luke.network.expectPeer("hans", secret);

    await expect(connecting).resolves.toBeUndefined();
    expect(luke.network.isConnected("hans")).toBe(true);
  });

  it("refuses a caller who did not start a session through the server", async () => {
    const yoda = await peerFor("yoda", 200);
    const luke = await peerFor("luke", 200);

    await expect(yoda.network.connect("luke", luke.address, newSecret())).rejects.toThrow(
      "Error. luke did not accept the private connection",
    );
    expect(luke.network.isConnected("yoda")).toBe(false);
    expect(luke.notices).toEqual([]);
  });

  it("says private messaging is not enabled without a session", async () => {
    const hans = await peerFor("hans");
    expect(() => hans.network.send("luke", "hey")).toThrow(new PeerError("Error. Private messaging to luke not enabled"));
  });

  it("gives a clear error when the peer's address does not answer", async () => {
    const hans = await peerFor("hans");
    const gone = await peerFor("luke");
    const { port } = gone.address;
    await gone.network.close("logout");

    await expect(hans.network.connect("luke", { host: "127.0.0.1", port }, newSecret())).rejects.toThrow(
      `Error. Could not connect to luke at 127.0.0.1:${port}`,
    );
  });

  it("tells the other side when a session is stopped", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const secret = newSecret();
    luke.network.expectPeer("hans", secret);
    await hans.network.connect("luke", luke.address, secret);

    expect(hans.network.stop("luke")).toBe(true);

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "stopped" }));
    expect(() => luke.network.send("hans", "still there?")).toThrow("Error. Private messaging to hans not enabled");
    expect(hans.notices).toEqual([]);
  });

  it("tells peers why when the client logs out, and reports a connection that breaks", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const yoda = await peerFor("yoda");
    const [withLuke, withYoda] = [newSecret(), newSecret()];
    luke.network.expectPeer("hans", withLuke);
    yoda.network.expectPeer("hans", withYoda);
    await hans.network.connect("luke", luke.address, withLuke);
    await hans.network.connect("yoda", yoda.address, withYoda);

    await hans.network.close("timeout");

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "timeout" }));
    await vi.waitFor(() => expect(yoda.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "timeout" }));
  });

  it("ends the session when the server says it is over", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const secret = newSecret();
    luke.network.expectPeer("hans", secret);
    await hans.network.connect("luke", luke.address, secret);

    luke.network.endedByServer("hans", "logout");

    expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "logout" });
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "ended", peer: "luke", reason: "lost" }));
  });

  it("keeps a new caller waiting for its notice when the server's notice of an earlier session's end comes first", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const first = newSecret();
    luke.network.expectPeer("hans", first);
    await hans.network.connect("luke", luke.address, first);
    hans.network.stop("luke");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "stopped" }));

    // hans starts again at once: his hello beats both of the server's notices to luke.
    const second = newSecret();
    const connecting = hans.network.connect("luke", luke.address, second);
    await new Promise((resolve) => setTimeout(resolve, 50));
    luke.network.endedByServer("hans", "stopped"); // about the session that just ended
    luke.network.expectPeer("hans", second); // about the new one

    await expect(connecting).resolves.toBeUndefined();
    expect(luke.network.isConnected("hans")).toBe(true);
  });

  it("lets the server's late notice of a session the peer ended end nothing newer", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const first = newSecret();
    luke.network.expectPeer("hans", first);
    await hans.network.connect("luke", luke.address, first);
    luke.network.stop("hans");
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "ended", peer: "luke", reason: "stopped" }));

    // hans starts again before the server's notice of luke's stop reaches him.
    const second = newSecret();
    luke.network.expectPeer("hans", second);
    await hans.network.connect("luke", luke.address, second);
    hans.network.endedByServer("luke", "stopped");

    expect(hans.network.isConnected("luke")).toBe(true);
    expect(hans.notices.filter((notice) => notice.kind === "ended")).toHaveLength(1);
    hans.network.send("luke", "still here");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "message", peer: "hans", text: "still here" }));

    hans.network.endedByServer("luke", "logout"); // a notice about this session still ends it
    expect(hans.network.isConnected("luke")).toBe(false);
  });

  it("settles on one working connection when both start at the same moment", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const secret = newSecret(); // the server keeps one session per pair, whoever starts it
    hans.network.expectPeer("luke", secret);
    luke.network.expectPeer("hans", secret);

    await Promise.all([hans.network.connect("luke", luke.address, secret), luke.network.connect("hans", hans.address, secret)]);
    hans.network.send("luke", "from hans");
    luke.network.send("hans", "from luke");

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "message", peer: "hans", text: "from hans" }));
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "message", peer: "luke", text: "from luke" }));
    expect(hans.notices.filter((notice) => notice.kind === "ended")).toEqual([]);
    expect(luke.notices.filter((notice) => notice.kind === "ended")).toEqual([]);
  });

  it("takes a message sent right behind the welcome, in the same packet", async () => {
    const hans = await peerFor("hans");
    const secret = newSecret();
    const luke = await fakeListener((hello) => {
      const { nonce } = JSON.parse(hello) as { nonce: string };
      return welcomeLine("luke", "hans", secret, nonce) + encodeFrame({ type: "message", from: "luke", text: "quick" });
    });

    await hans.network.connect("luke", luke.address, secret);
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "message", peer: "luke", text: "quick" }));
    luke.close();
  });
});

describe("the secret a caller must prove", () => {
  /** luke, told by the server that hans started a session with `secret`, and a raw socket dialling him. */
  async function lukeExpectingHans(secret: string, handshakeTimeoutMs = 300) {
    const luke = await peerFor("luke", handshakeTimeoutMs);
    luke.network.expectPeer("hans", secret);
    const raw = await rawSocket(luke.network.port);
    return { luke, raw };
  }

  it.each([
    ["no secret at all", () => encodeFrame({ type: "hello", from: "hans" } as never)],
    ["a hello without proof", () => '{"type":"hello","from":"hans","nonce":"AAAAAAAAAAAAAAAAAAAAAA"}\n'],
    ["the secret itself instead of a proof", (secret: string) => JSON.stringify({ type: "hello", from: "hans", secret }) + "\n"],
    ["a proof made with another secret", () => helloLine("hans", "luke", newSecret())],
    ["a proof made for another user", (secret: string) => helloLine("hans", "yoda", secret)],
    ["a proof in another user's name", (secret: string) => helloLine("yoda", "luke", secret)],
    [
      "an answer's proof instead of a caller's",
      (secret: string) => {
        const nonce = newNonce();
        return encodeFrame({
          type: "hello",
          from: "hans",
          nonce,
          proof: handshakeProof(secret, "accept", "hans", "luke", nonce),
        });
      },
    ],
  ])("drops a caller with %s, without a word to the user", async (_name, hello) => {
    const secret = newSecret();
    const { luke, raw } = await lukeExpectingHans(secret);
    raw.socket.write(hello(secret));
    await raw.closed;
    expect(raw.received()).toBe("");
    expect(luke.network.isConnected("hans")).toBe(false);
    expect(luke.notices).toEqual([]);
  });

  it("opens the session for the right proof, answering with its own", async () => {
    const secret = newSecret();
    const { luke, raw } = await lukeExpectingHans(secret);
    const nonce = newNonce();
    raw.socket.write(helloLine("hans", "luke", secret, nonce));
    await vi.waitFor(() => expect(raw.received()).toBe(welcomeLine("luke", "hans", secret, nonce)));
    expect(luke.notices).toEqual([{ kind: "opened", peer: "hans" }]);
  });

  it("refuses the secret of a session its caller ended, before the server's notice comes", async () => {
    const hans = await peerFor("hans", 300);
    const luke = await peerFor("luke", 300);
    const secret = newSecret();
    luke.network.expectPeer("hans", secret);
    await hans.network.connect("luke", luke.address, secret);
    hans.network.stop("luke");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "stopped" }));

    await expect(hans.network.connect("luke", luke.address, secret)).rejects.toThrow(
      "Error. luke did not accept the private connection",
    );
    expect(luke.network.isConnected("hans")).toBe(false);
    expect(luke.notices).toEqual([
      { kind: "opened", peer: "hans" },
      { kind: "ended", peer: "hans", reason: "stopped" },
    ]);
  });

  it("refuses a session's secret once the server says it ended, even with no connection made", async () => {
    const secret = newSecret();
    const { luke, raw } = await lukeExpectingHans(secret);
    luke.network.endedByServer("hans", "logout");
    raw.socket.write(helloLine("hans", "luke", secret));
    await raw.closed;
    expect(raw.received()).toBe("");
    expect(luke.notices).toEqual([]);
  });

  it("refuses a hello replayed from an earlier connection", async () => {
    const secret = newSecret();
    const { luke, raw } = await lukeExpectingHans(secret);
    const hello = helloLine("hans", "luke", secret);
    raw.socket.write(hello);
    await vi.waitFor(() => expect(raw.received()).not.toBe(""));

    const replay = await rawSocket(luke.network.port);
    replay.socket.write(hello);
    await replay.closed;
    expect(replay.received()).toBe("");
    expect(luke.notices).toEqual([{ kind: "opened", peer: "hans" }]);
  });

  it("checks a caller who came before the server's notice against the secret the notice brings", async () => {
    const luke = await peerFor("luke", 300);
    const secret = newSecret();
    const early = await rawSocket(luke.network.port);
    early.socket.write(helloLine("hans", "luke", newSecret()));
    await new Promise((resolve) => setTimeout(resolve, 50));

    luke.network.expectPeer("hans", secret);
    await early.closed;
    expect(early.received()).toBe("");
    expect(luke.notices).toEqual([]);
  });

  it("does not let a stranger's hello push aside a caller waiting for the server's notice", async () => {
    const luke = await peerFor("luke", 2000);
    const secret = newSecret();
    const caller = await rawSocket(luke.network.port);
    const nonce = newNonce();
    caller.socket.write(helloLine("hans", "luke", secret, nonce));
    const stranger = await rawSocket(luke.network.port);
    stranger.socket.write(helloLine("hans", "luke", newSecret()));
    await new Promise((resolve) => setTimeout(resolve, 50));

    luke.network.expectPeer("hans", secret);
    await vi.waitFor(() => expect(caller.received()).toBe(welcomeLine("luke", "hans", secret, nonce)));
    expect(stranger.received()).toBe("");
    expect(luke.notices).toEqual([{ kind: "opened", peer: "hans" }]);
  });

  it("drops a caller who sends more than a hello's worth before proving who it is", async () => {
    const secret = newSecret();
    const { luke, raw } = await lukeExpectingHans(secret, 60_000);
    raw.socket.write("x".repeat(MAX_HELLO_LENGTH + 1));
    // At once, not when the (here very long) handshake time runs out.
    const outcome = await Promise.race([raw.closed.then(() => "dropped"), sleep(3000).then(() => "still open")]);
    expect(outcome).toBe("dropped");
    expect(luke.notices).toEqual([]);
  });
});

describe("the answer a dialler must get", () => {
  it.each([
    ["answers in another user's name", (nonce: string, secret: string) => welcomeLine("yoda", "hans", secret, nonce)],
    ["cannot prove the secret", (nonce: string) => welcomeLine("luke", "hans", newSecret(), nonce)],
    ["proves it for another nonce", (_nonce: string, secret: string) => welcomeLine("luke", "hans", secret, newNonce())],
    [
      "sends the dialler's own proof back",
      (nonce: string, secret: string) =>
        encodeFrame({ type: "welcome", from: "luke", proof: handshakeProof(secret, "dial", "hans", "luke", nonce) }),
    ],
    ["answers with a hello", (_nonce: string, secret: string) => helloLine("luke", "hans", secret)],
  ])("refuses a listener at the peer's address that %s", async (_name, answer) => {
    const hans = await peerFor("hans");
    const secret = newSecret();
    const impostor = await fakeListener((hello) => answer((JSON.parse(hello) as { nonce: string }).nonce, secret));

    await expect(hans.network.connect("luke", impostor.address, secret)).rejects.toThrow(
      "Error. luke did not accept the private connection",
    );
    expect(hans.network.isConnected("luke")).toBe(false);
    expect(hans.notices).toEqual([]);
    impostor.close();
  });

  it("never sends the secret itself", async () => {
    const hans = await peerFor("hans", 200);
    const secret = newSecret();
    let heard = "";
    const listener = await fakeListener((hello) => {
      heard = hello;
      return "";
    });
    await expect(hans.network.connect("luke", listener.address, secret)).rejects.toThrow(PeerError);
    expect(heard).toMatch(/^\{"type":"hello","from":"hans","nonce":"[\w-]{22}","proof":"[\w-]{43}"\}\n$/);
    expect(heard).not.toContain(secret);
    listener.close();
  });
});

describe("frames a peer network rejects", () => {
  it("drops a connection whose first line is not a frame", async () => {
    const luke = await peerFor("luke");
    const raw = await rawSocket(luke.network.port);
    raw.socket.write("HELO hans\n");
    await raw.closed;
    expect(raw.received()).toBe("");
  });

  it("drops a connection that sends a message before saying who it is", async () => {
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans", newSecret());
    const raw = await rawSocket(luke.network.port);
    raw.socket.write('{"type":"message","from":"hans","text":"hi"}\n');
    await raw.closed;
    expect(luke.notices).toEqual([]);
  });

  it("drops a caller who never says hello", async () => {
    const luke = await peerFor("luke", 100);
    const raw = await rawSocket(luke.network.port);
    await raw.closed;
  });

  it.each([
    ["malformed data", () => "{not json\n"],
    ["a frame speaking for someone else", () => '{"type":"message","from":"yoda","text":"it is me, yoda"}\n'],
    ["a second hello", (secret: string) => helloLine("hans", "luke", secret)],
    ["a welcome", (secret: string) => welcomeLine("hans", "luke", secret, newNonce())],
  ])("ends a session whose peer sends %s", async (_name, line) => {
    const luke = await peerFor("luke");
    const secret = newSecret();
    luke.network.expectPeer("hans", secret);
    const raw = await rawSocket(luke.network.port);
    raw.socket.write(helloLine("hans", "luke", secret));
    await vi.waitFor(() => expect(raw.received()).toMatch(/^\{"type":"welcome","from":"luke","proof":"[\w-]{43}"\}\n$/));

    raw.socket.write(line(secret));
    await raw.closed;

    expect(luke.notices).toEqual([
      { kind: "opened", peer: "hans" },
      { kind: "ended", peer: "hans", reason: "malformed" },
    ]);
  });
});
