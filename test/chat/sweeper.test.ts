import { eq, inArray, sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sweepOnce } from "../../src/chat/sessions.js";
import { sessions, users } from "../../src/db/schema.js";
import { createChatContext } from "../../src/server.js";
import { createTestChat, testConfig } from "../support/chat.js";
import { openTestDatabase } from "../support/database.js";
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

describe("stopping an instance", () => {
  it("writes the activity it kept", async () => {
    const database = await openTestDatabase();
    try {
      const chat = await createChatContext(database, testConfig({ timeoutSeconds: 60 }));
      await database.db.insert(users).values({ username: "hans", passwordHash: "x" });
      const [session] = await database.db
        .insert(sessions)
        .values({ username: "hans", lastActivityAt: sql`now() - interval '30 seconds'` })
        .returning({ id: sessions.id });
      expect(await chat.context.sessions.owner(session!.id, true)).toBe("hans");
      await chat.stop();
      const [row] = await database.db
        .select({ idle: sql<string>`extract(epoch from now() - ${sessions.lastActivityAt})` })
        .from(sessions)
        .where(eq(sessions.id, session!.id));
      expect(Number(row!.idle)).toBeLessThan(5);
    } finally {
      await database.close();
    }
  });
});
