import net, { type Socket } from "node:net";
import { createFrameReader, encodeFrame, MAX_FRAME_LENGTH, MAX_HELLO_LENGTH, type PeerFrame } from "./peer-frames.js";

export type PeerAddress = { host: string; port: number };

export type ConnectionHandlers = {
  onFrame(connection: PeerConnection, frame: PeerFrame): void;
  /** The connection ended without us closing it: the peer left, the network failed, or it sent garbage. */
  onBroken(connection: PeerConnection, reason: "closed" | "malformed"): void;
};

/** One TCP connection to another client, speaking the frames of peer-frames.ts. */
export class PeerConnection {
  /** The user at the other end, set once the handshake has proved who they are. */
  peer: string | undefined;
  /** Settles when the socket has closed, whoever closed it. */
  readonly closed: Promise<void>;
  private finished = false;

  constructor(
    private readonly socket: Socket,
    /** True when we dialled it, false when the other side did. */
    readonly dialled: boolean,
    handlers: ConnectionHandlers,
  ) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setEncoding("utf8");
    socket.setNoDelay(true);
    const reader = createFrameReader(
      {
        onFrame: (frame) => {
          if (!this.finished) handlers.onFrame(this, frame);
        },
        onMalformed: () => {
          if (this.finished) return;
          this.destroy();
          handlers.onBroken(this, "malformed");
        },
      },
      () => (this.peer === undefined ? MAX_HELLO_LENGTH : MAX_FRAME_LENGTH),
    );
    socket.on("data", (chunk: string) => reader.push(chunk));
    socket.on("error", () => undefined); // "close" follows every error; that is where it is handled
    socket.on("close", () => {
      if (this.finished) return;
      this.finished = true;
      handlers.onBroken(this, "closed");
    });
  }

  /** False when the connection can no longer carry anything. */
  send(frame: PeerFrame): boolean {
    if (this.finished || !this.socket.writable) return false;
    this.socket.write(encodeFrame(frame));
    return true;
  }

  /** Ends the connection after an optional last frame, without reporting it broken. */
  close(lastFrame?: PeerFrame): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      if (lastFrame) this.socket.end(encodeFrame(lastFrame));
      else this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref(); // a peer that never closes its side
    }
    return this.closed;
  }

  /** Drops the connection at once, without reporting it broken. */
  destroy(): void {
    this.finished = true;
    this.socket.destroy();
  }
}

/** Opens a TCP connection to a peer, failing after timeoutMs. */
export function dialPeer(address: PeerAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error("connection timed out")));
    socket.once("error", fail);
    socket.once("connect", () => {
      socket.setTimeout(0);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}
