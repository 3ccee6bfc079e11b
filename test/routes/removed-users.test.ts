import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { DISABLED_HASH } from "../../src/chat/passwords.js";
import { users } from "../../src/db/schema.js";
import type { TestChat } from "../support/chat.js";
import { expectProblem, sharedChat } from "../support/http.js";

let chat: TestChat;
sharedChat((created) => (chat = created));

/** What a restart with yoda left out of the credentials file does to yoda (syncUsers). */
const removeFromCredentials = (username: string) =>
  chat.db.update(users).set({ passwordHash: DISABLED_HASH }).where(eq(users.username, username));

/**
 * A user no longer in the credentials file keeps their history but is, for every command, a user
 * that does not exist: the original's "Error. Invalid user".
 */
describe("a user removed from the credentials file", () => {
  it("cannot log in, and is an unknown user to messages, history, blocks and private chat", async () => {
    const { hans, yoda } = await chat.users("hans", "yoda");
    const hansToken = await chat.login(hans);
    const sent = await chat.request("POST", "/messages", { token: hansToken, json: { to: yoda, text: "before" } });
    expect(sent.status).toBe(201);
    await removeFromCredentials(yoda);

    await expectProblem(
      await chat.request("POST", "/login", { json: { username: yoda, password: `${yoda}-pw` } }),
      401,
      "invalid_credentials",
      "Invalid Username. Please try again",
    );
    const invalid = [404, "unknown_user", "Error. Invalid user"] as const;
    await expectProblem(
      await chat.request("POST", "/messages", { token: hansToken, json: { to: yoda, text: "after" } }),
      ...invalid,
    );
    await expectProblem(await chat.request("GET", `/messages?with=${yoda}`, { token: hansToken }), ...invalid);
    await expectProblem(await chat.request("PUT", `/blocks/${yoda}`, { token: hansToken }), ...invalid);
    await expectProblem(await chat.request("DELETE", `/blocks/${yoda}`, { token: hansToken }), ...invalid);
    await expectProblem(await chat.request("POST", `/private/${yoda}`, { token: hansToken }), ...invalid);

    // The history stays: hans still sees what he sent.
    const history = (await (await chat.request("GET", "/messages", { token: hansToken })).json()) as {
      messages: { to: string; text: string }[];
    };
    expect(history.messages).toEqual([expect.objectContaining({ to: yoda, text: "before" })]);
  });
});
