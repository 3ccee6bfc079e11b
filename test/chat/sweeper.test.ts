import { inArray, sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sweepOnce } from "../../src/chat/sessions.js";
import { sessions } from "../../src/db/schema.js";
import { createTestChat } from "../support/chat.js";
import { endReasons } from "../events/helpers.js";

afterEach(() => vi.useRealTimers());

describe("a sweep", () => {
  it("writes the activity this instance kept before it ends the sessions idle for the timeout", async () => {
    vi.useFakeTimers({ toFake: ["setInterval"] }); // no sweep but this test's
    const chat = await createTestChat({ timeoutSeconds: 60 });
    try {
      const { hans, luke } = await chat.users("hans", "luke");
      const busy = await chat.login(hans);
      await chat.login(luke);
      await chat.db
        .update(sessions)
        .set({ lastActivityAt: sql`now() - interval '61 seconds'` })
        .where(inArray(sessions.username, [hans, luke]));
      const response = await chat.request("GET", "/users/online", { token: busy });
      expect(response.status).toBe(200);

      await sweepOnce(chat.context);
      expect(await endReasons(chat, hans)).toEqual([null]);
      expect(await endReasons(chat, luke)).toEqual(["timeout"]);
      const [row] = await chat.db
        .select({ idle: sql<string>`extract(epoch from now() - ${sessions.lastActivityAt})` })
        .from(sessions)
        .where(inArray(sessions.username, [hans]));
      expect(Number(row!.idle)).toBeLessThan(5);
    } finally {
      await chat.close();
    }
  });
});
