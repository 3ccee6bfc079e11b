import net, { type Server } from "node:net";
import { dialPeer, PeerConnection, type ConnectionHandlers, type PeerAddress } from "./peer-connection.js";
import type { EndReason, HelloFrame, PeerFrame } from "./peer-frames.js";
import { handshakeProof, newNonce, proofMatches } from "./peer-handshake.js";

export type { PeerAddress } from "./peer-connection.js";

/** Why a private session ended without us stopping it. */
export type PeerEndReason = EndReason | "lost" | "malformed";

export type PeerEvents = {
  /** Someone who started a private session with us has connected. */
  onOpened(peer: string): void;
  onMessage(peer: string, text: string): void;
  onEnded(peer: string, reason: PeerEndReason): void;
};

export type PeerNetworkOptions = {
  events: PeerEvents;
  /** Address to listen on; every interface when absent. */
  host?: string;
  /** How long a connection may take to prove who it is, and an unannounced caller waits for the server's notice. */
  handshakeTimeoutMs?: number;
};

/**
 * How long after a peer's goodbye the server's notice of that same end may still arrive. The server
 * tells us later than the peer does, so its notice can come after a new session has already started.
 */
const SERVER_NOTICE_GRACE_MS = 10_000;

/** A failure to show the user as it is. */
export class PeerError extends Error {}

/** A connection we dialled, waiting for the answer to our hello: whom we dialled, with which secret and nonce. */
type PendingDial = { peer: string; secret: string; nonce: string; settle(opened: boolean): void };

/** A live private session the server told us someone started with us, and the hello nonces it has accepted. */
type AnnouncedSession = { secret: string; usedNonces: Set<string> };

/** Opens the listening side of private messaging on an OS-chosen port. */
export async function listenForPeers(options: PeerNetworkOptions): Promise<PeerNetwork> {
  const network = new PeerNetwork(options);
  await network.listen(options.host);
  return network;
}

/**
 * Every private session of one user, each over its own TCP connection.
 * A connection becomes a session only after the handshake (peer-handshake.ts): we accept a caller only
 * with proof of the secret of a live session the server told us they started with us (private_started),
 * and when we dial, only the user we dialled, proving the same secret, may answer. Anything else is
 * dropped without a word to the user.
 */
export class PeerNetwork {
  private self: string | undefined;
  private readonly server: Server;
  private readonly events: PeerEvents;
  private readonly handshakeTimeoutMs: number;
  private readonly connections = new Set<PeerConnection>();
  private readonly sessions = new Map<string, PeerConnection>();
  /** The live sessions the server says users started with us, by user. */
  private readonly announced = new Map<string, AnnouncedSession>();
  /** Callers whose hello proves no session we know of yet: the server's private_started may still be coming. */
  private readonly waiting = new Map<PeerConnection, HelloFrame>();
  private readonly dials = new Map<PeerConnection, PendingDial>();
  /** Peers whose goodbye ended a session, and when: the server's notice of that end is still to come. */
  private readonly goodbyes = new Map<string, number>();
  private readonly handlers: ConnectionHandlers = {
    onFrame: (connection, frame) => this.onFrame(connection, frame),
    onBroken: (connection, reason) => this.onBroken(connection, reason),
  };

  constructor(options: PeerNetworkOptions) {
    this.events = options.events;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
    this.server = net.createServer((socket) => this.track(new PeerConnection(socket, false, this.handlers)));
  }

  listen(host?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ port: 0, host }, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === "string") throw new Error("the peer listener is not listening");
    return address.port;
  }

  /** Sets who we are once logged in; until then every caller is refused. */
  identify(username: string): void {
    this.self = username;
  }

  isConnected(peer: string): boolean {
    return this.sessions.has(peer);
  }

  /** The server's private_started: `peer` is about to connect to us, proving they hold `secret`. */
  expectPeer(peer: string, secret: string): void {
    this.goodbyes.delete(peer); // the server's notices from now on are about the new session
    if (this.announced.get(peer)?.secret !== secret) this.announced.set(peer, { secret, usedNonces: new Set() });
    for (const [connection, hello] of this.waiting) {
      const session = hello.from === peer ? this.sessionProvedBy(hello) : undefined;
      if (session === undefined) continue; // another user's, or perhaps a later notice's
      this.waiting.delete(connection);
      this.admit(connection, hello, session);
    }
  }

  /**
   * The server's private_stopped: the session with `peer` is over. A caller still waiting for its
   * private_started is left waiting: the server's events come in order, so this notice is about an earlier session.
   */
  endedByServer(peer: string, reason: EndReason): void {
    this.announced.delete(peer);
    const goodbyeAt = this.goodbyes.get(peer);
    this.goodbyes.delete(peer);
    if (goodbyeAt !== undefined && Date.now() - goodbyeAt < SERVER_NOTICE_GRACE_MS) return; // told already
    this.endSession(peer, reason);
  }

  /** Dials `peer` and completes the handshake with the session's `secret`; resolves once the session is open. */
  async connect(peer: string, address: PeerAddress, secret: string): Promise<void> {
    const self = this.requireSelf();
    if (this.sessions.has(peer)) return;
    const socket = await dialPeer(address, this.handshakeTimeoutMs).catch(() => {
      throw new PeerError(`Error. Could not connect to ${peer} at ${address.host}:${address.port}`);
    });
    const connection = this.track(new PeerConnection(socket, true, this.handlers));
    const nonce = newNonce();
    const opened = new Promise<boolean>((settle) => this.dials.set(connection, { peer, secret, nonce, settle }));
    connection.send({ type: "hello", from: self, nonce, proof: handshakeProof(secret, "dial", self, peer, nonce) });
    if (await opened) return;
    if (this.sessions.has(peer)) return; // they dialled us at the same moment and that connection won
    throw new PeerError(`Error. ${peer} did not accept the private connection`);
  }

  send(peer: string, text: string): void {
    const session = this.sessions.get(peer);
    if (session === undefined) throw new PeerError(`Error. Private messaging to ${peer} not enabled`);
    if (!session.send({ type: "message", from: this.requireSelf(), text })) {
      this.sessions.delete(peer);
      session.destroy();
      throw new PeerError(`Error. ${peer} can no longer be reached; private messaging ended`);
    }
  }

  /** Ends our session with `peer` and tells them; false when there was none. */
  stop(peer: string): boolean {
    this.announced.delete(peer);
    const session = this.sessions.get(peer);
    if (session === undefined) return false;
    this.sessions.delete(peer);
    void session.close({ type: "bye", from: this.requireSelf(), reason: "stopped" });
    return true;
  }

  /** Says bye to every peer, stops listening, and resolves once every connection is closed. */
  async close(reason: "logout" | "timeout"): Promise<void> {
    this.server.close();
    const closing = [...this.connections].map((connection) => connection.closed);
    const sessions = new Set(this.sessions.values());
    this.sessions.clear();
    for (const session of sessions) {
      void session.close(this.self === undefined ? undefined : { type: "bye", from: this.self, reason });
    }
    for (const connection of this.connections) if (!sessions.has(connection)) connection.destroy();
    for (const dial of this.dials.values()) dial.settle(false);
    this.dials.clear();
    this.waiting.clear();
    await Promise.all(closing);
  }

  private onFrame(connection: PeerConnection, frame: PeerFrame): void {
    const peer = connection.peer;
    if (peer === undefined) return this.onHandshake(connection, frame);
    const current = this.sessions.get(peer) === connection;
    if (frame.from !== peer || frame.type === "hello" || frame.type === "welcome") {
      connection.destroy();
      if (current) this.endSession(peer, "malformed");
      return;
    }
    // A connection replaced a moment ago may still carry the last messages sent before the switch.
    if (frame.type === "message") return this.events.onMessage(peer, frame.text);
    this.announced.delete(peer);
    connection.destroy();
    this.goodbyes.set(peer, Date.now());
    this.endSession(peer, frame.reason ?? "stopped");
  }

  /** A connection ended without us closing it, or we gave up on it before it became a session. */
  private onBroken(connection: PeerConnection, reason: "closed" | "malformed"): void {
    this.dials.get(connection)?.settle(false);
    this.dials.delete(connection);
    this.waiting.delete(connection);
    const peer = connection.peer;
    if (peer !== undefined && this.sessions.get(peer) === connection) {
      this.endSession(peer, reason === "malformed" ? "malformed" : "lost");
    }
  }

  /** A frame on a connection that is not a session yet: only the handshake's may come, once. */
  private onHandshake(connection: PeerConnection, frame: PeerFrame): void {
    const dial = this.dials.get(connection);
    if (dial !== undefined) return this.onWelcome(connection, dial, frame);
    if (frame.type !== "hello" || this.waiting.has(connection)) return this.discard(connection);
    if (this.self === undefined || frame.from === this.self) return this.discard(connection);
    const session = this.sessionProvedBy(frame);
    if (session !== undefined) return this.admit(connection, frame, session);
    // The server's private_started may still be on its way to us; hold the caller until it comes or time runs out.
    this.waiting.set(connection, frame);
  }

  /** The answer to our hello: the session opens only if the user we dialled proves the same secret. */
  private onWelcome(connection: PeerConnection, dial: PendingDial, frame: PeerFrame): void {
    const self = this.requireSelf();
    const expected = handshakeProof(dial.secret, "accept", dial.peer, self, dial.nonce);
    if (frame.type !== "welcome" || frame.from !== dial.peer || !proofMatches(expected, frame.proof)) {
      return this.discard(connection);
    }
    this.dials.delete(connection);
    // Opened at once, not when connect() resumes: a message may follow the welcome in the same packet.
    const existing = this.sessions.get(dial.peer);
    if (existing !== undefined && self > dial.peer) {
      this.retire(connection); // both dialled at once: see admit()
    } else {
      if (existing !== undefined) this.retire(existing);
      this.open(connection, dial.peer);
    }
    dial.settle(true);
  }

  /** The live session announced by the server whose secret this hello proves, with a nonce not used before. */
  private sessionProvedBy(hello: HelloFrame): AnnouncedSession | undefined {
    const session = this.announced.get(hello.from);
    if (session === undefined || session.usedNonces.has(hello.nonce)) return undefined;
    const expected = handshakeProof(session.secret, "dial", hello.from, this.requireSelf(), hello.nonce);
    return proofMatches(expected, hello.proof) ? session : undefined;
  }

  /**
   * A caller proved the secret of a session the server announced: answer with our own proof and open it.
   * When both sides dialled at once, both keep the connection the smaller name dialled.
   */
  private admit(connection: PeerConnection, hello: HelloFrame, session: AnnouncedSession): void {
    const self = this.requireSelf();
    const peer = hello.from;
    const existing = this.sessions.get(peer);
    if (existing?.dialled && self < peer) return this.discard(connection);
    session.usedNonces.add(hello.nonce);
    if (existing !== undefined) this.retire(existing);
    connection.send({ type: "welcome", from: self, proof: handshakeProof(session.secret, "accept", self, peer, hello.nonce) });
    this.open(connection, peer);
    this.events.onOpened(peer);
  }

  private open(connection: PeerConnection, peer: string): void {
    connection.peer = peer;
    this.sessions.set(peer, connection);
  }

  /** Ends the session with `peer`, if there is one, and tells the user why. */
  private endSession(peer: string, reason: PeerEndReason): void {
    const session = this.sessions.get(peer);
    if (session === undefined) return;
    this.sessions.delete(peer);
    session.destroy();
    this.events.onEnded(peer, reason);
  }

  private track(connection: PeerConnection): PeerConnection {
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    setTimeout(() => {
      if (connection.peer === undefined) this.discard(connection);
    }, this.handshakeTimeoutMs).unref();
    return connection;
  }

  /**
   * Stops using a connection another one replaced, closing it a little later: the other side may still
   * be switching over, and closing it at once would look to them like a lost session.
   */
  private retire(connection: PeerConnection): void {
    if (connection.peer !== undefined && this.sessions.get(connection.peer) === connection) {
      this.sessions.delete(connection.peer);
    }
    setTimeout(() => connection.destroy(), 1000).unref();
  }

  /** Drops a connection that never became a session. */
  private discard(connection: PeerConnection): void {
    connection.destroy();
    this.onBroken(connection, "closed");
  }

  private requireSelf(): string {
    if (this.self === undefined) throw new PeerError("Error. Log in before messaging privately");
    return this.self;
  }
}
