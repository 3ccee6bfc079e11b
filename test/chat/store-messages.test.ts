import { describe, expect, it } from "vitest";
import { storeMessages, type MessageSend } from "../../src/chat/messages.js";
import { AppError } from "../../src/chat/errors.js";
import type { TestChat } from "../support/chat.js";
import { sharedChat } from "../support/http.js";

let chat: TestChat;
const streams = sharedChat((created) => (chat = created));

/**
 * One group commit prepared by hand, so what a batch holds is not left to timing: storeMessages is
 * what the message batcher runs for each batch.
 */
describe("storeMessages: one batch holding every kind of send", () => {
  it("numbers messages in send order and each recipient's events in their send order, refusing the bad sends alone", async () => {
    // rex is online (logged in), ray never logged in, olga logged in and out; rex blocked bob.
    const { ann, bob, rex, ray, olga } = await chat.users("ann", "bob", "rex", "ray", "olga");
    const rexToken = await chat.login(rex);
    expect((await chat.request("PUT", `/blocks/${bob}`, { token: rexToken })).status).toBe(200);
    expect((await chat.request("POST", "/logout", { token: await chat.login(olga) })).status).toBe(204);
    const nobody = `${ann}_nobody`;

    const sentAt = new Date("2026-11-25T14:04:45.405Z");
    const send = (from: string, to: string, text: string): MessageSend => ({ from, to, text, sentAt });
    const sends = [
      send(ann, rex, "first to rex"),
      send(ann, ray, "first to ray"),
      send(bob, rex, "bob is blocked"),
      send(ann, nobody, "to nobody"),
      send(ann, rex, "second to rex"),
      send(bob, ray, "second to ray"),
      send(ann, olga, "to olga, logged out"),
      send(bob, rex, "bob is still blocked"),
      send(ann, rex, "third to rex"),
    ];

    const outcomes = await storeMessages(chat.context.hub, chat.db, sends);

    expect(outcomes).toHaveLength(sends.length);
    const refusal = (index: number) => {
      const outcome = outcomes[index]!;
      if (!("error" in outcome)) throw new Error(`send ${index} was accepted`);
      expect(outcome.error).toBeInstanceOf(AppError);
      return (outcome.error as AppError).code;
    };
    expect([2, 3, 7].map(refusal)).toEqual(["blocked", "unknown_user", "blocked"]);

    const accepted = [0, 1, 4, 5, 6, 8].map((index) => {
      const outcome = outcomes[index]!;
      if (!("value" in outcome)) throw new Error(`send ${index} was refused: ${String(outcome.error)}`);
      return outcome.value;
    });
    // Message ids: consecutive, in send order, the refused sends taking none.
    const first = accepted[0]!.response.id;
    expect(accepted.map((stored) => stored.response.id)).toEqual([0, 1, 2, 3, 4, 5].map((step) => first + step));
    for (const [position, index] of [0, 1, 4, 5, 6, 8].entries()) {
      const { from, to, text } = sends[index]!;
      const view = { id: first + position, from, to, text, sentAt: sentAt.toISOString() };
      const delivery = to === rex ? "delivered" : "stored";
      expect(accepted[position]!.response, text).toEqual({ ...view, delivery });
      expect(accepted[position]!.event.type).toBe("message");
      expect(accepted[position]!.event.data).toEqual(view);
    }
    // Event ids: each recipient's own counter, from 1 for these new users, in their send order.
    expect(accepted.map((stored) => [stored.response.to, stored.event.id])).toEqual([
      [rex, 1],
      [ray, 1],
      [rex, 2],
      [ray, 2],
      [olga, 1],
      [rex, 3],
    ]);

    // The log holds them as numbered: each recipient's stream replays its messages in send order.
    for (const [recipient, token] of [
      [rex, rexToken],
      [ray, await chat.login(ray)],
      [olga, await chat.login(olga)],
    ] as const) {
      const stream = await streams.open(token);
      const theirs = accepted.filter((stored) => stored.response.to === recipient);
      const received = [];
      for (let count = 0; count < theirs.length; count++) received.push(await stream.next("message"));
      expect(received.map((event) => [Number(event.id), event.data])).toEqual(
        theirs.map((stored) => [stored.event.id, stored.event.data]),
      );
      expect(await stream.quietFor(200, "message")).toEqual([]);
    }
  });

  it("stores nothing for a batch whose every send is refused", async () => {
    const { ann, rex } = await chat.users("ann", "rex");
    expect((await chat.request("PUT", `/blocks/${ann}`, { token: await chat.login(rex) })).status).toBe(200);
    const sentAt = new Date();
    const outcomes = await storeMessages(chat.context.hub, chat.db, [
      { from: ann, to: rex, text: "blocked", sentAt },
      { from: ann, to: `${rex}_nobody`, text: "unknown", sentAt },
    ]);
    expect(outcomes.map((outcome) => "error" in outcome && (outcome.error as AppError).code)).toEqual([
      "blocked",
      "unknown_user",
    ]);
    const history = await chat.request("GET", "/messages", { token: await chat.login(ann) });
    expect(((await history.json()) as { messages: unknown[] }).messages).toEqual([]);
  });
});
