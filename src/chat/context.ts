import type { Database } from "../db/client.js";
import type { DeliveredCursor } from "./event-log.js";
import type { Hub } from "./hub.js";
import type { Tokens } from "./tokens.js";

/** What every domain function works with; built once at start-up (or per test). */
export type ChatContext = {
  db: Database;
  hub: Hub;
  cursor: DeliveredCursor;
  tokens: Tokens;
  settings: {
    blockDurationSeconds: number;
    timeoutSeconds: number;
    streamBufferBytes: number;
    pingIntervalSeconds: number;
  };
};

export const MAX_TEXT_LENGTH = 4096;
