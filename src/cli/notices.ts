import type { PeerEndReason } from "./peer-network.js";

/** The lines the client prints for things that happen to the user, as the original client worded them. */

export const deliveryLine = (from: string, text: string) => `${from}: ${text}`;

export const privateLine = (from: string, text: string) => `${from}(private): ${text}`;

export const presenceLine = (username: string, status: "online" | "offline") =>
  `${username} logged ${status === "online" ? "in" : "out"}`;

export const privateOpenedLine = (peer: string) => `${peer} started private messaging with you`;

export const privateStoppedLine = (peer: string) => `Stopped private messaging with ${peer}`;

export function privateEndedLine(peer: string, reason: PeerEndReason): string {
  switch (reason) {
    case "stopped":
      return `${peer} stopped private messaging with you`;
    case "logout":
      return `Private messaging with ${peer} ended: ${peer} logged out`;
    case "timeout":
      return `Private messaging with ${peer} ended: ${peer} was logged out after inactivity`;
    case "lost":
      return `Error. The private connection with ${peer} was lost`;
    case "malformed":
      return `Error. The private connection with ${peer} was closed: it sent malformed data`;
  }
}

export const TIMEOUT_LINE = "Logged out after inactivity";
export const LOGGED_OUT_LINE = "You have been logged out";
export const SESSION_GONE_LINE = "Your session has ended. Please log in again";
export const RESYNC_LINE = "Some earlier deliveries could not be replayed";
