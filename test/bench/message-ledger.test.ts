import { describe, expect, it } from "vitest";
import type { LoggedInUser } from "../../bench/load/chat-client.js";
import type { SseEvent } from "../../bench/load/sse-client.js";
import { MessageLedger } from "../../bench/scenarios/message-ledger.js";

const user = (index: number): LoggedInUser => ({
  index,
  username: `u${index}`,
  token: "t",
  authorization: "Bearer t",
  loginSentAt: 0,
});
const alice = user(1);
const bob = user(2);

/** A ledger with message s0 n0..n2 sent to alice and accepted with ids 100.. */
function ledgerWithThreeMessages() {
  const ledger = new MessageLedger("tag");
  for (let seq = 0; seq < 3; seq++) {
    const record = ledger.create(0, seq, alice, 0, "phase");
    record.status = 201;
    record.id = 100 + seq;
  }
  return ledger;
}

const delivery = (to: LoggedInUser, eventId: number, seq: number, messageId = 100 + seq): SseEvent => ({
  type: "message",
  id: String(eventId),
  data: JSON.stringify({ id: messageId, from: "u0", to: to.username, text: `tag s0 n${seq} t1.000 xxx` }),
  receivedAt: 5,
});

describe("MessageLedger", () => {
  it("accepts each message delivered once, in order, to its recipient", () => {
    const ledger = ledgerWithThreeMessages();
    for (let seq = 0; seq < 3; seq++) ledger.onEvent(alice, delivery(alice, seq + 1, seq));
    ledger.verifyComplete();
    expect(ledger.violations.total).toBe(0);
    expect(ledger.undelivered()).toBe(0);
    expect(ledger.resumePoint("u1")).toBe(3);
  });

  it("flags a duplicate, a lost message and a message out of order", () => {
    const ledger = ledgerWithThreeMessages();
    ledger.onEvent(alice, delivery(alice, 1, 1));
    ledger.onEvent(alice, delivery(alice, 2, 0));
    ledger.onEvent(alice, delivery(alice, 3, 0));
    ledger.verifyComplete();
    expect(ledger.violations.count("order")).toBe(1);
    expect(ledger.violations.count("duplicate")).toBe(1);
    expect(ledger.violations.count("lost")).toBe(1);
  });

  it("flags a message on the wrong stream, a repeated event id and an id other than the 201's", () => {
    const ledger = ledgerWithThreeMessages();
    ledger.onEvent(bob, delivery(bob, 1, 0));
    ledger.onEvent(alice, delivery(alice, 5, 1, 999));
    ledger.onEvent(alice, delivery(alice, 5, 2));
    ledger.verifyComplete();
    expect(ledger.violations.count("wrong-user")).toBe(1);
    expect(ledger.violations.count("id-order")).toBe(1);
    expect(ledger.violations.count("id-mismatch")).toBe(1);
    const failing = ledger.violations.checks({ "wrong-user": "right user" }).filter((check) => !check.ok);
    expect(failing.map((check) => check.name)).toEqual(["right user", "no other protocol violations"]);
  });

  it("flags messages never sent and deliveries of refused messages", () => {
    const ledger = ledgerWithThreeMessages();
    ledger.records.get("0:2")!.status = 500;
    ledger.onEvent(alice, delivery(alice, 1, 2));
    ledger.onEvent(alice, delivery(alice, 2, 7));
    ledger.verifyComplete();
    expect(ledger.violations.count("unaccepted-delivered")).toBe(1);
    expect(ledger.violations.count("unknown")).toBe(1);
  });

  it("checks a retired phase and counts a later delivery of one of its messages as a duplicate", () => {
    const ledger = ledgerWithThreeMessages();
    ledger.onEvent(alice, delivery(alice, 1, 0));
    ledger.onEvent(alice, delivery(alice, 2, 1));
    ledger.retire("phase");
    expect(ledger.violations.count("lost")).toBe(1);
    expect(ledger.records.size).toBe(0);
    ledger.onEvent(alice, delivery(alice, 3, 1));
    ledger.onEvent(alice, delivery(alice, 4, 3));
    expect(ledger.violations.count("duplicate")).toBe(1);
    expect(ledger.violations.count("unknown")).toBe(1);
  });
});
