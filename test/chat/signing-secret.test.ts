import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settings } from "../../src/db/schema.js";
import { createTokens, loadSigningSecret } from "../../src/chat/tokens.js";
import { openTestDatabase } from "../support/database.js";

let database: Awaited<ReturnType<typeof openTestDatabase>>;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(() => database.close());

const claims = { sessionId: "6f1d2c3e-0000-4000-8000-000000000001", username: "hans" };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("the signing secret", () => {
  it("is the configured one when given, and then nothing is stored", async () => {
    const configured = "c".repeat(40);
    expect(text(await loadSigningSecret(database.db, configured))).toBe(configured);
    expect(await database.db.select().from(settings)).toEqual([]);
  });

  it("is otherwise generated once (32 random bytes) and kept: every later start, and every instance, signs with it", async () => {
    const first = await loadSigningSecret(database.db);
    expect(text(first)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await loadSigningSecret(database.db);
    expect(text(again)).toBe(text(first));
    expect(await database.db.select().from(settings)).toEqual([{ key: "jwt_secret", value: text(first) }]);

    const { token } = await (await createTokens(first)).issue(claims);
    expect(await (await createTokens(again)).verify(token)).toEqual(claims);
  });
});
