import { beforeEach } from "vitest";
import { rebuildTestChats } from "./chat.js";

// Mutation runs only (vitest.stryker.config.ts): see APP_PER_TEST in ./chat.ts.
beforeEach(rebuildTestChats);
