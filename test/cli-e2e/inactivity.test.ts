import { describe, expect, it } from "vitest";
import { logIn, useChatServer, type PipedClient } from "./harness.js";

const TIMEOUT_SECONDS = 3;
const chatServer = useChatServer(["hans", "luke"], { timeoutSeconds: TIMEOUT_SECONDS });

/** Types a harmless command every few hundred milliseconds, so the server sees the user as active. */
function keepActive(client: PipedClient): () => void {
  const timer = setInterval(() => client.type("whoelse"), 300);
  return () => clearInterval(timer);
}

describe("a client the server logs out for inactivity", () => {
  it("says so and exits, and its private peer is told why the session ended", async () => {
    const luke = await logIn(chatServer(), "luke");
    const lukeIdles = keepActive(luke);
    const hans = await logIn(chatServer(), "hans");
    const hansIdles = keepActive(hans);
    try {
      hans.type("startprivate luke");
      await hans.sees("Start private messaging with luke\n");
      await luke.sees("hans started private messaging with you\n");

      lukeIdles();
      expect(await luke.exit).toBe(0);
      expect(luke.output()).toMatch(/Logged out after inactivity\n$/);
      await hans.sees("Private messaging with luke ended: luke was logged out after inactivity\n");
      await hans.sees("luke logged out\n");
      expect(hans.output()).not.toContain("Logged out after inactivity");
    } finally {
      lukeIdles();
      hansIdles();
    }
  });
});
