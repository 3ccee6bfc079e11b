import type { LoggedInUser, StreamHandlers } from "../load/chat-client.js";
import type { SseEvent } from "../load/sse-client.js";
import { Samples } from "../report.js";
import { Violations } from "./context.js";

/** What the generator knows about one message it sent. */
export type MessageRecord = {
  sender: number;
  seq: number;
  recipient: LoggedInUser;
  phase: string;
  /** When the open-loop schedule meant it to go out; latency counts from here. */
  plannedAt: number;
  sentAt: number;
  ackAt: number;
  /** HTTP status of the POST; 0 while in flight, -1 when the connection failed. */
  status: number;
  /** `id` from the 201 body. */
  id: number | undefined;
  /** `id` in the delivered event's data. */
  deliveredId: number | undefined;
  deliveries: number;
  deliveredAt: number;
};

/** The violations a ledger of direct messages counts, each named as a check of the report. */
export const DIRECT_MESSAGE_CHECKS = {
  "post-failed": "every POST /messages answered 201",
  lost: "no accepted message lost",
  duplicate: "no message delivered twice",
  "wrong-user": "every message reached its recipient and no one else",
  order: "each sender's messages arrive in the order sent",
  "id-order": "event ids increase on every stream",
  "id-mismatch": "the delivered event carries the id the 201 returned",
  "stream-closed": "no stream was cut off",
};

/** Text of a message: tag, sender, sequence number, planned time, padding. Parsed back on delivery. */
const TEXT_PATTERN = /^(\S+) s(\d+) n(\d+) t(\d+(?:\.\d+)?)/;

/** Every message sent in a scenario and every delivery seen, checked as they happen. */
export class MessageLedger {
  readonly records = new Map<string, MessageRecord>();
  readonly byPhase = new Map<string, MessageRecord[]>();
  readonly violations = new Violations();
  /** Highest event id each recipient's streams have shown. */
  private readonly lastEventId = new Map<string, number>();
  /** Highest sequence number seen per sender→recipient pair. */
  private readonly lastSeq = new Map<string, number>();
  /** Per sender, the highest sequence number checked and forgotten by `retire`. */
  private readonly retiredThrough = new Map<number, number>();
  failedPosts = 0;
  otherEvents = 0;
  lastDeliveryAt = 0;

  constructor(readonly tag: string) {}

  create(sender: number, seq: number, recipient: LoggedInUser, plannedAt: number, phase: string): MessageRecord {
    const record: MessageRecord = {
      sender,
      seq,
      recipient,
      phase,
      plannedAt,
      sentAt: 0,
      ackAt: 0,
      status: 0,
      id: undefined,
      deliveredId: undefined,
      deliveries: 0,
      deliveredAt: 0,
    };
    this.records.set(`${sender}:${seq}`, record);
    let list = this.byPhase.get(phase);
    if (!list) this.byPhase.set(phase, (list = []));
    list.push(record);
    return record;
  }

  /** The last event id a recipient has seen, for Last-Event-ID on reconnect. */
  resumePoint(username: string): number | undefined {
    return this.lastEventId.get(username);
  }

  /** Stream handlers that check every event here and count a stream the server cut off as a violation. */
  streamHandlers(): Required<Pick<StreamHandlers, "onEvent" | "onUnexpectedClose">> {
    return {
      onEvent: (user, event) => this.onEvent(user, event),
      onUnexpectedClose: (user, stream) =>
        this.violations.add("stream-closed", `${user.username}: ${stream.error?.message ?? "closed by the server"}`),
    };
  }

  /** Checks one event from `user`'s stream: right user, exactly once, in id and send order. */
  onEvent(user: LoggedInUser, event: SseEvent): void {
    if (event.type !== "message") {
      if (event.id !== undefined) this.advanceId(user, event);
      this.otherEvents++;
      return;
    }
    this.advanceId(user, event);
    let data: { id?: number; from?: string; to?: string; text?: string };
    try {
      data = JSON.parse(event.data) as typeof data;
    } catch {
      this.violations.add("malformed", `${user.username}: ${event.data.slice(0, 80)}`);
      return;
    }
    if (data.to !== user.username) {
      this.violations.add("wrong-user", `${user.username}'s stream got a message to ${data.to}`);
    }
    const match = TEXT_PATTERN.exec(data.text ?? "");
    if (!match || match[1] !== this.tag) {
      this.violations.add("unknown", `${user.username}: ${String(data.text).slice(0, 60)}`);
      return;
    }
    const sender = Number(match[2]);
    const seq = Number(match[3]);
    const record = this.records.get(`${sender}:${seq}`);
    if (!record) {
      if (seq <= (this.retiredThrough.get(sender) ?? -1)) {
        this.violations.add("duplicate", `s${sender} n${seq} to ${user.username} delivered again after it was checked`);
      } else {
        this.violations.add("unknown", `${user.username}: s${sender} n${seq} was never sent`);
      }
      return;
    }
    record.deliveries++;
    if (record.deliveries > 1) {
      this.violations.add("duplicate", `s${sender} n${seq} to ${user.username} delivered ${record.deliveries} times`);
      return;
    }
    if (record.recipient.username !== user.username) {
      this.violations.add("wrong-user", `s${sender} n${seq} for ${record.recipient.username} reached ${user.username}`);
    }
    record.deliveredAt = event.receivedAt;
    record.deliveredId = data.id;
    if (event.receivedAt > this.lastDeliveryAt) this.lastDeliveryAt = event.receivedAt;
    const pair = `${sender}>${user.username}`;
    const previous = this.lastSeq.get(pair) ?? -1;
    if (seq <= previous) {
      this.violations.add("order", `${user.username} got s${sender} n${seq} after n${previous}`);
    } else {
      this.lastSeq.set(pair, seq);
    }
  }

  private advanceId(user: LoggedInUser, event: SseEvent): void {
    if (event.id === undefined) {
      this.violations.add("missing-id", `${user.username}: a ${event.type} event without id`);
      return;
    }
    const id = Number(event.id);
    const last = this.lastEventId.get(user.username) ?? 0;
    if (!(id > last)) this.violations.add("id-order", `${user.username}: id ${event.id} after ${last}`);
    else this.lastEventId.set(user.username, id);
  }

  /** Messages still waiting for their 201, or accepted and not yet delivered. */
  pending(phase: string): number {
    let count = 0;
    for (const record of this.byPhase.get(phase) ?? [])
      if (record.status === 0 || (record.status === 201 && record.deliveries === 0)) count++;
    return count;
  }

  /** Messages accepted (201) but not yet delivered. */
  undelivered(phase?: string): number {
    let count = 0;
    const list = phase ? (this.byPhase.get(phase) ?? []) : this.records.values();
    for (const record of list) if (record.status === 201 && record.deliveries === 0) count++;
    return count;
  }

  /** After the traffic has drained: everything accepted arrived exactly once and nothing refused did. */
  verifyComplete(): void {
    this.verify(this.records.values());
  }

  /**
   * Checks a drained phase as `verifyComplete` does, then forgets its messages so a long run
   * keeps the generator's memory flat; a later delivery of one counts as a duplicate.
   */
  retire(phase: string): void {
    const list = this.byPhase.get(phase) ?? [];
    this.verify(list);
    for (const record of list) {
      this.records.delete(`${record.sender}:${record.seq}`);
      if (record.seq > (this.retiredThrough.get(record.sender) ?? -1)) this.retiredThrough.set(record.sender, record.seq);
    }
    this.byPhase.delete(phase);
  }

  private verify(records: Iterable<MessageRecord>): void {
    for (const record of records) {
      const name = `s${record.sender} n${record.seq} to ${record.recipient.username}`;
      if (record.status === 201 && record.deliveries === 0) this.violations.add("lost", `${name} accepted but never delivered`);
      if (record.status !== 201 && record.deliveries > 0)
        this.violations.add("unaccepted-delivered", `${name} got ${record.status} yet was delivered`);
      if (record.status === 201 && record.deliveries > 0 && record.deliveredId !== record.id) {
        this.violations.add("id-mismatch", `${name}: 201 said id ${record.id}, the event said ${record.deliveredId}`);
      }
    }
  }
}

export type PhaseFigures = {
  offered: number;
  accepted: number;
  failed: number;
  delivered: number;
  /** From the phase start to the last 201. */
  acceptWindowMs: number;
  /** From the phase start to the last delivery. */
  deliveryWindowMs: number;
  acceptedPerSecond: number;
  deliveredPerSecond: number;
  deliveryLatency: Samples;
  ackLatency: Samples;
};

export function phaseFigures(ledger: MessageLedger, phase: string, startedAt: number): PhaseFigures {
  const records = ledger.byPhase.get(phase) ?? [];
  const deliveryLatency = new Samples();
  const ackLatency = new Samples();
  let accepted = 0;
  let failed = 0;
  let delivered = 0;
  let lastAck = startedAt;
  let lastDelivery = startedAt;
  for (const record of records) {
    if (record.status === 201) {
      accepted++;
      ackLatency.add(record.ackAt - record.plannedAt);
      if (record.ackAt > lastAck) lastAck = record.ackAt;
    } else failed++;
    if (record.deliveries > 0) {
      delivered++;
      deliveryLatency.add(record.deliveredAt - record.plannedAt);
      if (record.deliveredAt > lastDelivery) lastDelivery = record.deliveredAt;
    }
  }
  const acceptWindowMs = lastAck - startedAt;
  const deliveryWindowMs = lastDelivery - startedAt;
  return {
    offered: records.length,
    accepted,
    failed,
    delivered,
    acceptWindowMs,
    deliveryWindowMs,
    acceptedPerSecond: acceptWindowMs > 0 ? (1000 * accepted) / acceptWindowMs : 0,
    deliveredPerSecond: deliveryWindowMs > 0 ? (1000 * delivered) / deliveryWindowMs : 0,
    deliveryLatency,
    ackLatency,
  };
}
