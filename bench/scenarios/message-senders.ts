import type { LoggedInUser } from "../load/chat-client.js";
import { nowMs, sleep } from "../load/clock.js";
import { HttpConnection, type Origin } from "../load/http-client.js";
import type { MessageLedger } from "./message-ledger.js";

/**
 * One user posting messages over its own keep-alive connection, one at a time, so its
 * messages to any one recipient must arrive in the order sent. Messages it cannot send
 * yet wait in its backlog; their latency still counts from the planned time.
 */
export class Sender {
  private readonly connection: HttpConnection;
  private readonly backlog: number[] = [];
  private readonly headers: Record<string, string>;
  private readonly padding: string;
  private inFlight = false;
  private idleWaiters: (() => void)[] = [];
  private seq = 0;
  /** Set by the first failed POST; a closed loop stops there rather than spin on a dead server. */
  failed = false;
  phase = "";

  constructor(
    readonly index: number,
    readonly user: LoggedInUser,
    origin: Origin,
    private readonly recipients: readonly LoggedInUser[],
    private readonly ledger: MessageLedger,
    textBytes: number,
  ) {
    this.connection = new HttpConnection(origin);
    this.headers = { Authorization: user.authorization };
    this.padding = "x".repeat(Math.max(0, textBytes - 48));
  }

  get queued(): number {
    return this.backlog.length + (this.inFlight ? 1 : 0);
  }

  /** Queues a message meant to leave at `plannedAt`. */
  plan(plannedAt: number): void {
    this.backlog.push(plannedAt);
    if (!this.inFlight) this.sendNext();
  }

  /** Resolves once the backlog is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (!this.inFlight && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closed loop: send back to back until `untilMs`, each message planned when it is sent. */
  async saturate(untilMs: number): Promise<void> {
    while (nowMs() < untilMs && !this.failed) {
      this.plan(nowMs());
      await this.idle();
    }
  }

  close(): void {
    this.connection.close();
  }

  private sendNext(): void {
    const plannedAt = this.backlog.shift();
    if (plannedAt === undefined) {
      this.inFlight = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
      return;
    }
    this.inFlight = true;
    const seq = this.seq++;
    const recipient = this.recipients[(this.index + seq) % this.recipients.length]!;
    const record = this.ledger.create(this.index, seq, recipient, plannedAt, this.phase);
    const text = `${this.ledger.tag} s${this.index} n${seq} t${plannedAt.toFixed(3)} ${this.padding}`;
    record.sentAt = nowMs();
    this.connection
      .request("POST", "/messages", { headers: this.headers, body: `{"to":"${recipient.username}","text":"${text}"}` })
      .then(
        (response) => {
          record.ackAt = nowMs();
          record.status = response.status;
          if (response.status === 201) {
            record.id = (JSON.parse(response.body) as { id: number }).id;
          } else {
            this.failed = true;
            this.ledger.failedPosts++;
            this.ledger.violations.add(
              "post-failed",
              `s${this.index} n${seq}: ${response.status} ${response.body.slice(0, 120)}`,
            );
          }
        },
        (error: Error) => {
          record.ackAt = nowMs();
          record.status = -1;
          this.failed = true;
          this.ledger.failedPosts++;
          this.ledger.violations.add("post-failed", `s${this.index} n${seq}: ${error.message}`);
        },
      )
      .finally(() => this.sendNext());
  }
}

export type OfferResult = {
  startedAt: number;
  planned: number;
  /** When the server fell so far behind that the generator stopped offering (open loop would queue forever). */
  gaveUpAt: number | undefined;
};

/**
 * Open loop: message i is planned at start + i/rate and handed to sender i mod M, whether
 * or not the server has answered earlier ones, so a stall shows up as latency. Once more
 * than `maxQueuedSeconds` of offered load waits unsent, the server cannot keep up and
 * offering more would only lengthen the run: planning stops and the result says when.
 */
export async function offerAtRate(
  senders: readonly Sender[],
  rate: number,
  durationMs: number,
  maxQueuedSeconds = 1,
): Promise<OfferResult> {
  const interval = 1000 / rate;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const maxQueued = Math.max(senders.length * 2, rate * maxQueuedSeconds);
  const startedAt = nowMs() + 2;
  let planned = 0;
  let gaveUpAt: number | undefined;
  while (planned < total) {
    const now = nowMs();
    while (planned < total && startedAt + planned * interval <= now) {
      senders[planned % senders.length]!.plan(startedAt + planned * interval);
      planned++;
    }
    let queued = 0;
    for (const sender of senders) queued += sender.queued;
    if (queued > maxQueued) {
      gaveUpAt = now;
      break;
    }
    if (planned < total) await sleep(Math.max(0, startedAt + planned * interval - nowMs()));
  }
  await Promise.all(senders.map((sender) => sender.idle()));
  return { startedAt, planned, gaveUpAt };
}

/** Closed loop: every sender sends back to back for `durationMs`. */
export async function saturate(senders: readonly Sender[], durationMs: number): Promise<{ startedAt: number }> {
  const startedAt = nowMs();
  await Promise.all(senders.map((sender) => sender.saturate(startedAt + durationMs)));
  return { startedAt };
}
