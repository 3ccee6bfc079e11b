import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login } from "../../src/chat/sessions.js";
import { sessions, users } from "../../src/db/schema.js";
import { createTestChat, passwordOf, type TestChat } from "../support/chat.js";

/** Login through the module's API, where the order of its statements can be set up exactly. */
let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({ blockDurationSeconds: 60 });
});
afterAll(() => chat.close());

const sessionsOf = (username: string) =>
  chat.db.select({ host: sessions.p2pHost, port: sessions.p2pPort }).from(sessions).where(eq(sessions.username, username));

describe("login", () => {
  // PGlite runs one statement at a time, in the order they were issued, so the lock lands exactly
  // between the login's read and its update. A server's pool gives no such order (the lock may
  // land after the whole login), so this runs on PGlite only.
  it.skipIf(process.env.DATABASE_URL)(
    "refuses the right password as locked when the lock begins while it is being checked",
    async () => {
      const { luke } = await chat.users("luke");
      // The login reads the user first, then checks the password (scrypt, off the event loop); the
      // lock is written in between, as a concurrent third wrong password would.
      const attempt = login(chat.context, { username: luke, password: passwordOf(luke) });
      await chat.db
        .update(users)
        .set({ lockedUntil: sql`now() + make_interval(secs => 60)` })
        .where(eq(users.username, luke));
      await expect(attempt).rejects.toMatchObject({ code: "account_locked", extras: { retryAfter: 60 } });
      expect(await sessionsOf(luke)).toEqual([]);
    },
  );

  it("keeps no peer-to-peer host for a client that offered no port, even with its address known", async () => {
    const { luke, hans } = await chat.users("luke", "hans");
    await login(chat.context, { username: luke, password: passwordOf(luke), clientAddress: "192.0.2.7" });
    await login(chat.context, { username: hans, password: passwordOf(hans), clientAddress: "192.0.2.8", p2pPort: 4000 });
    expect(await sessionsOf(luke)).toEqual([{ host: null, port: null }]);
    expect(await sessionsOf(hans)).toEqual([{ host: "192.0.2.8", port: 4000 }]);
  });
});
