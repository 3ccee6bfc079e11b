import net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
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
    luke.network.expectPeer("hans"); // the server's private_started

    await hans.network.connect("luke", luke.address);
    hans.network.send("luke", "hey dude");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "message", peer: "hans", text: "hey dude" }));
    expect(luke.notices[0]).toEqual({ kind: "opened", peer: "hans" });

    luke.network.send("hans", "hi hans"); // luke never ran startprivate
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "message", peer: "luke", text: "hi hans" }));
  });

  it("accepts a starter whose hello arrives before the server's notice", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");

    const connecting = hans.network.connect("luke", luke.address);
    await new Promise((resolve) => setTimeout(resolve, 50));
    luke.network.expectPeer("hans");

    await expect(connecting).resolves.toBeUndefined();
    expect(luke.network.isConnected("hans")).toBe(true);
  });

  it("refuses a caller who did not start a session through the server", async () => {
    const yoda = await peerFor("yoda", 200);
    const luke = await peerFor("luke", 200);

    await expect(yoda.network.connect("luke", luke.address)).rejects.toThrow("Error. luke did not accept the private connection");
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

    await expect(hans.network.connect("luke", { host: "127.0.0.1", port })).rejects.toThrow(
      `Error. Could not connect to luke at 127.0.0.1:${port}`,
    );
  });

  it("tells the other side when a session is stopped", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);

    expect(hans.network.stop("luke")).toBe(true);

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "stopped" }));
    expect(() => luke.network.send("hans", "still there?")).toThrow("Error. Private messaging to hans not enabled");
    expect(hans.notices).toEqual([]);
  });

  it("tells peers why when the client logs out, and reports a connection that breaks", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    const yoda = await peerFor("yoda");
    luke.network.expectPeer("hans");
    yoda.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);
    await hans.network.connect("yoda", yoda.address);

    await hans.network.close("timeout");

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "timeout" }));
    await vi.waitFor(() => expect(yoda.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "timeout" }));
  });

  it("ends the session when the server says it is over", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);

    luke.network.endedByServer("hans", "logout");

    expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "logout" });
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "ended", peer: "luke", reason: "lost" }));
  });

  it("keeps a new caller waiting for its notice when the server's notice of an earlier session's end comes first", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);
    hans.network.stop("luke");
    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "ended", peer: "hans", reason: "stopped" }));

    // hans starts again at once: his hello beats both of the server's notices to luke.
    const connecting = hans.network.connect("luke", luke.address);
    await new Promise((resolve) => setTimeout(resolve, 50));
    luke.network.endedByServer("hans", "stopped"); // about the session that just ended
    luke.network.expectPeer("hans"); // about the new one

    await expect(connecting).resolves.toBeUndefined();
    expect(luke.network.isConnected("hans")).toBe(true);
  });

  it("lets the server's late notice of a session the peer ended end nothing newer", async () => {
    const hans = await peerFor("hans");
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);
    luke.network.stop("hans");
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "ended", peer: "luke", reason: "stopped" }));

    // hans starts again before the server's notice of luke's stop reaches him.
    luke.network.expectPeer("hans");
    await hans.network.connect("luke", luke.address);
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
    hans.network.expectPeer("luke");
    luke.network.expectPeer("hans");

    await Promise.all([hans.network.connect("luke", luke.address), luke.network.connect("hans", hans.address)]);
    hans.network.send("luke", "from hans");
    luke.network.send("hans", "from luke");

    await vi.waitFor(() => expect(luke.notices).toContainEqual({ kind: "message", peer: "hans", text: "from hans" }));
    await vi.waitFor(() => expect(hans.notices).toContainEqual({ kind: "message", peer: "luke", text: "from luke" }));
    expect(hans.notices.filter((notice) => notice.kind === "ended")).toEqual([]);
    expect(luke.notices.filter((notice) => notice.kind === "ended")).toEqual([]);
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
    luke.network.expectPeer("hans");
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
    ["malformed data", "{not json\n"],
    ["a frame speaking for someone else", '{"type":"message","from":"yoda","text":"it is me, yoda"}\n'],
    ["a second hello", '{"type":"hello","from":"hans"}\n'],
  ])("ends a session whose peer sends %s", async (_name, line) => {
    const luke = await peerFor("luke");
    luke.network.expectPeer("hans");
    const raw = await rawSocket(luke.network.port);
    raw.socket.write('{"type":"hello","from":"hans"}\n');
    await vi.waitFor(() => expect(raw.received()).toBe('{"type":"hello","from":"luke"}\n'));

    raw.socket.write(line);
    await raw.closed;

    expect(luke.notices).toEqual([
      { kind: "opened", peer: "hans" },
      { kind: "ended", peer: "hans", reason: "malformed" },
    ]);
  });

  it("answers the dialler only if the one who answers is the user it dialled", async () => {
    const hans = await peerFor("hans");
    const impostor = net.createServer((socket) => socket.write('{"type":"hello","from":"yoda"}\n'));
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    const address = impostor.address();
    if (address === null || typeof address === "string") throw new Error("no address");

    await expect(hans.network.connect("luke", { host: "127.0.0.1", port: address.port })).rejects.toThrow(
      "Error. luke did not accept the private connection",
    );
    impostor.close();
  });
});
