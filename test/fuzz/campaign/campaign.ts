import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { decodeJwt } from "jose";
import { createScratchDatabase } from "../../../bench/database.js";
import type { Origin } from "../../../bench/load/http-client.js";
import { problemStatus } from "../../../src/http/problem.js";
import { spawnServer, type ServerProcess } from "../../support/server-process.js";
import { EventReader } from "../../support/sse.js";
import { encodeQueryValue, operationsIn, type Operation } from "../arbitraries.js";
import { sendRaw, serialize, type Framing, type RawOutcome, type RawRequest } from "./raw-http.js";
import { fuzzRequests, loginRequest, type Cast, type FuzzRequest } from "./requests.js";
import { changedTables, openStateDigest, type StateDigest } from "./state-digest.js";

export type CampaignOptions = {
  requests: number;
  seed: number;
  /** A PostgreSQL server where the campaign may create (and drops) a database of its own. */
  adminUrl: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Requests between two readings of the database digest. */
  batchSize: number;
  progress?: (line: string) => void;
  /** Stops sending early (Ctrl+C); the report then covers what was sent. */
  signal?: AbortSignal;
};

type ViolationKind =
  | "server_error"
  | "not_problem_json"
  | "status_does_not_match_code"
  | "bad_token_accepted"
  | "malformed_string_not_400"
  | "no_answer"
  | "closed_without_answer"
  | "state_changed_on_refusal"
  | "secret_in_logs"
  | "server_exited"
  | "not_alive_afterwards";

/** A request as it went out, enough to send it again. */
type Replay = { index: number; label: string; outcome: string; request: string };

type Violation = { kind: ViolationKind; detail: string; replay?: Replay[] };

export type CampaignReport = {
  seed: number;
  requests: number;
  concurrency: number;
  batchSize: number;
  seconds: number;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  byRoute: Record<string, Record<string, number>>;
  /** Refused requests, and how many of them were checked for a state change. */
  refusals: { total: number; verified: number; byDesign: number; inMixedBatches: number };
  /** Requests with no verdict from the app: closed, timed out, or answered by Node's parser after a split framing. */
  uncertain: number;
  streamsOpened: number;
  digestTables: string[];
  /** Time spent reading the database digest. */
  digestSeconds: number;
  violations: Violation[];
  alive: { health: boolean; loginMessageEvent: boolean; stoppedCleanly: boolean };
};

/** Refusals that change state by design: a wrong password counts toward the lockout, and the third one locks. */
const changesStateByDesign = (code: string | undefined, attemptsLeft: unknown) =>
  (code === "invalid_credentials" && attemptsLeft !== undefined) || code === "account_locked";

/** Framings where the server cannot know where the body ends, so closing without an answer is fair. */
const UNANSWERABLE: Framing[] = ["length-over-body"];

/**
 * Framings whose head is well-formed but whose body is not where the head says: the app may act on
 * the head (a route that reads no body) while Node's parser answers 400 to the bytes that follow.
 */
const SPLIT_FRAMINGS: Framing[] = ["no-length", "length-under-body", "length-over-body", "bad-chunk-size"];

/** Methods whose success changes nothing (the delivery cursor a stream moves is left out of the digest). */
const READ_ONLY = ["GET", "HEAD", "OPTIONS"];

const REQUEST_TIMEOUT_MS = 5_000;
const GENERATION_CHUNK = 500;

type Actor = { username: string; token: string; needsLogin: boolean };

type Result = {
  index: number;
  request: FuzzRequest;
  bytes: Buffer;
  outcome: RawOutcome;
  code: string | undefined;
  refused: boolean;
  byDesign: boolean;
  succeeded: boolean;
  uncertain: boolean;
};

function describeOutcome(outcome: RawOutcome, code: string | undefined): string {
  if (outcome.kind !== "response") return outcome.kind;
  return `${outcome.status}${code ? ` ${code}` : ""}${outcome.stream ? " (stream)" : ""}`;
}

const MAX_REPLAY_CHARS = 600;

function replayOf(result: Result): Replay {
  const text = result.bytes.toString("latin1");
  return {
    index: result.index,
    label: result.request.label,
    outcome: describeOutcome(result.outcome, result.code),
    request: JSON.stringify(
      text.length > MAX_REPLAY_CHARS ? `${text.slice(0, MAX_REPLAY_CHARS)}... (${text.length} bytes)` : text,
    ),
  };
}

/** Writes the credentials file: actors, victims and one user who never logs in. */
async function castOf(directory: string): Promise<{ cast: Cast; file: string }> {
  const actors = ["ann", "bob", "cat", "dan", "eve"];
  const victims = ["vic", "val"];
  const offline = "oscar";
  const passwords = Object.fromEntries(
    [...actors, ...victims, offline, "ed"].map((name) => [name, `${name}-${randomBytes(6).toString("hex")}`]),
  );
  const file = join(directory, "credentials.txt");
  await writeFile(
    file,
    Object.entries(passwords)
      .map(([name, password]) => `${name} ${password}\n`)
      .join(""),
  );
  return { cast: { actors, victims, offline, passwords }, file };
}

/** What one request got, judged on its own: the checks that need no database. */
function judge(result: Result, violations: Map<ViolationKind, Violation[]>) {
  const flag = (kind: ViolationKind, detail: string) => {
    const list = violations.get(kind) ?? [];
    list.push({ kind, detail, replay: [replayOf(result)] });
    violations.set(kind, list);
  };
  const { outcome, request } = result;
  if (outcome.kind === "timeout") return flag("no_answer", `no answer within ${REQUEST_TIMEOUT_MS} ms`);
  if (outcome.kind === "closed") {
    if (!UNANSWERABLE.includes(request.framing)) flag("closed_without_answer", "the connection closed with no response");
    return;
  }
  const { status, headers } = outcome;
  if (status >= 500) flag("server_error", `${status} ${result.code ?? ""}`);
  // Node's own HTTP parser refuses malformed requests before the app sees them: a bare 4xx without X-Request-Id.
  const fromApp = headers.has("x-request-id");
  if (fromApp && status >= 400 && headers.get("content-type") !== "application/problem+json") {
    flag("not_problem_json", `${status} with content-type ${headers.get("content-type")}`);
  }
  if (result.code !== undefined && problemStatus[result.code as keyof typeof problemStatus] !== status) {
    flag("status_does_not_match_code", `${status} with code ${result.code}`);
  }
  // A refused token or an exhausted budget is answered before the body or path is read.
  const answeredFirst = ["unauthorized", "rate_limited", "payload_too_large"];
  if (request.expectValidationError && result.code !== "validation_error" && !answeredFirst.includes(result.code ?? "")) {
    flag("malformed_string_not_400", `${status} ${result.code ?? ""} for a lone surrogate or control character`);
  }
  if (request.auth.kind === "bad" && request.secured && request.ownPath && status < 300) {
    flag("bad_token_accepted", `${status} for a token that must be refused`);
  }
}

function problemOf(outcome: RawOutcome): { code?: string; attemptsLeft?: unknown; token?: string } {
  if (outcome.kind !== "response" || outcome.stream) return {};
  const type = outcome.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json") && !type.startsWith("application/json")) return {};
  try {
    return JSON.parse(outcome.body.toString()) as { code?: string; attemptsLeft?: unknown; token?: string };
  } catch {
    return {};
  }
}

/** Runs the campaign against a fresh server on a fresh database and reports what it saw. */
export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const progress = options.progress ?? (() => {});
  const directory = await mkdtemp(join(tmpdir(), "chat-fuzz-"));
  const database = await createScratchDatabase(options.adminUrl, `chat_fuzz_${process.pid}_${randomBytes(3).toString("hex")}`);
  const jwtSecret = randomBytes(32).toString("base64url");
  let server: ServerProcess | undefined;
  let digest: Awaited<ReturnType<typeof openStateDigest>> | undefined;
  try {
    const { cast, file } = await castOf(directory);
    server = await spawnServer(
      [
        "--database-url",
        database.url,
        "--credentials",
        file,
        // A cheap hash: the campaign is about the HTTP surface, and the wrong-password path still runs scrypt.
        "--password-hash-cost",
        "1024",
        "--timeout",
        "86400",
        "--block-duration",
        "2",
        // One fuzzer address stands for many clients; the per-user and per-username budgets stay as shipped.
        "--address-rate-limit",
        "0",
        "--login-address-rate-limit",
        "0",
      ],
      { JWT_SECRET: jwtSecret, DATABASE_URL: "", LOG_LEVEL: "info" },
    );
    const origin: Origin = { host: "127.0.0.1", port: server.port };
    const operations: Operation[] = operationsIn(await (await fetch(`${server.url}/openapi.json`)).json());
    digest = await openStateDigest(database.url);

    const violations = new Map<ViolationKind, Violation[]>();
    const report: CampaignReport = {
      seed: options.seed,
      requests: 0,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      seconds: 0,
      byStatus: {},
      byCode: {},
      byRoute: {},
      refusals: { total: 0, verified: 0, byDesign: 0, inMixedBatches: 0 },
      uncertain: 0,
      streamsOpened: 0,
      digestTables: digest.tables,
      digestSeconds: 0,
      violations: [],
      alive: { health: false, loginMessageEvent: false, stoppedCleanly: false },
    };
    const actors: Actor[] = cast.actors.map((username) => ({ username, token: "", needsLogin: true }));
    const issuedTokens: string[] = [];

    const send = async (request: FuzzRequest, index: number): Promise<Result> => {
      const headers = [...request.headers];
      let target = request.path + request.query;
      const { auth } = request;
      if (auth.kind !== "none") {
        const token = auth.kind === "live" ? actors[auth.actor]!.token : await auth.token;
        const format = auth.kind === "live" ? "Bearer {token}" : auth.format;
        if (auth.placement === "header")
          headers.push(["Authorization", Buffer.from(format.replaceAll("{token}", token)).toString("latin1")]);
        else target += `${target.includes("?") ? "&" : "?"}access_token=${encodeQueryValue(token)}`;
      }
      const raw: RawRequest = { method: request.method, target, headers, body: request.body, framing: request.framing };
      const bytes = serialize(raw, origin);
      const outcome = await sendRaw(origin, bytes, {
        halfClose: UNANSWERABLE.includes(request.framing),
        streamHoldMs: request.streamHoldMs,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      const problem = problemOf(outcome);
      const status = outcome.kind === "response" ? outcome.status : 0;
      const byDesign = changesStateByDesign(problem.code, problem.attemptsLeft);
      const succeeded = outcome.kind === "response" && status < 400;
      // Uncertain: no verdict from the app, though it may have carried the request out (see SPLIT_FRAMINGS).
      const fromApp = outcome.kind === "response" && outcome.headers.has("x-request-id");
      const uncertain = outcome.kind !== "response" || (!fromApp && SPLIT_FRAMINGS.includes(request.framing));
      // Keep the actors' tokens current: a login hands out a new one; a 401 or a logout ends the old one.
      if (auth.kind === "live") {
        const refusedHeaderToken = auth.placement === "header" && problem.code === "unauthorized";
        if (refusedHeaderToken || (request.effect?.kind === "logout" && status === 204)) actors[auth.actor]!.needsLogin = true;
      }
      if (request.effect?.kind === "login") {
        const actor = actors[request.effect.actor]!;
        if (status === 200 && problem.token) {
          actor.token = problem.token;
          issuedTokens.push(problem.token);
        }
        // 409: the session we hold a token for is still live.
        if (status === 200 || problem.code === "already_logged_in") actor.needsLogin = false;
      }
      return {
        index,
        request,
        bytes,
        outcome,
        code: problem.code,
        refused: !succeeded && !uncertain,
        byDesign,
        succeeded,
        uncertain,
      };
    };

    const count = (result: Result) => {
      const { outcome } = result;
      const key = outcome.kind === "response" ? String(outcome.status) : outcome.kind;
      report.byStatus[key] = (report.byStatus[key] ?? 0) + 1;
      if (result.code) report.byCode[result.code] = (report.byCode[result.code] ?? 0) + 1;
      const route = (report.byRoute[result.request.label] ??= {});
      route[key] = (route[key] ?? 0) + 1;
      if (outcome.kind === "response" && outcome.stream) report.streamsOpened += 1;
      report.requests += 1;
    };

    const readDigest = async () => {
      const started = performance.now();
      const read = await digest!.read();
      report.digestSeconds += (performance.now() - started) / 1000;
      return read;
    };
    /** After an uncertain outcome, waits until the server has finished what it may still be doing. */
    const settledDigest = async () => {
      let previous = await readDigest();
      for (let attempt = 0; attempt < 30; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const current = await readDigest();
        if (changedTables(previous, current).length === 0) return current;
        previous = current;
      }
      return previous;
    };
    let before: StateDigest = await readDigest();
    let previousBatch: Result[] = [];
    const runBatch = async (batch: FuzzRequest[], firstIndex: number) => {
      const results: Result[] = new Array<Result>(batch.length);
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const position = next++;
          results[position] = await send(batch[position]!, firstIndex + position);
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency, batch.length) }, worker));
      const uncertain = results.some((result) => result.uncertain);
      const after = uncertain ? await settledDigest() : await readDigest();
      const changed = changedTables(before, after);
      before = after;
      const refused = results.filter((result) => result.refused);
      const byDesign = refused.filter((result) => result.byDesign).length;
      report.refusals.total += refused.length;
      report.refusals.byDesign += byDesign;
      report.uncertain += results.filter((result) => result.uncertain).length;
      for (const result of results) {
        count(result);
        judge(result, violations);
      }
      if (changed.length === 0) report.refusals.verified += refused.length - byDesign;
      else if (
        results.some(
          (result) => (result.succeeded && !READ_ONLY.includes(result.request.method)) || result.byDesign || result.uncertain,
        )
      )
        report.refusals.inMixedBatches += refused.length - byDesign;
      else {
        const list = violations.get("state_changed_on_refusal") ?? [];
        list.push({
          kind: "state_changed_on_refusal",
          detail: `tables ${changed.join(", ")} changed in a batch where every request was refused`,
          // The batch before is listed too (marked "before"): a late effect of it would show up here.
          replay: [
            ...previousBatch.map((result) => ({ ...replayOf(result), label: `(before) ${result.request.label}` })),
            ...results.map(replayOf),
          ],
        });
        violations.set("state_changed_on_refusal", list);
      }
      previousBatch = results;
    };

    const loginsDue = () => actors.flatMap((actor, index) => (actor.needsLogin ? [loginRequest(cast, index)] : []));
    await runBatch(loginsDue(), -1);
    if (actors.some((actor) => actor.needsLogin)) throw new Error(`the actors could not log in:\n${server.output()}`);
    const endedToken = await (async () => {
      const ended = await fetch(`${server.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "ed", password: cast.passwords.ed }),
      });
      const { token } = (await ended.json()) as { token: string };
      await fetch(`${server.url}/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      issuedTokens.push(token);
      return token;
    })();
    before = await readDigest();

    const material = {
      secret: new TextEncoder().encode(jwtSecret),
      liveToken: actors[0]!.token,
      liveUser: actors[0]!.username,
      otherUser: actors[1]!.username,
      endedToken,
    };
    const arbitrary = fuzzRequests(operations, cast, material);
    const started = performance.now();
    let exited = false;
    void server.exited.then(() => (exited = true));

    let generated: FuzzRequest[] = [];
    let sent = 0;
    const progressEvery = Math.max(500, Math.min(5000, Math.round(options.requests / 20)));
    let nextProgress = progressEvery;
    while (sent < options.requests && !exited && !options.signal?.aborted) {
      const due = loginsDue();
      if (due.length > 0) await runBatch(due, -1);
      if (generated.length === 0) {
        const chunk = Math.floor(sent / GENERATION_CHUNK);
        generated = fc.sample(arbitrary, { seed: (options.seed + chunk * 7919) | 0, numRuns: GENERATION_CHUNK });
        // A chunk starts where `sent` is; skip what an earlier, partly sent chunk already covered.
        generated = generated.slice(sent % GENERATION_CHUNK);
      }
      // Probes and traffic go in separate batches, so a probe batch rarely holds a success that changes state.
      const intent = generated[0]!.intent;
      let size = 0;
      while (
        size < generated.length &&
        size < options.batchSize &&
        generated[size]!.intent === intent &&
        sent + size < options.requests
      )
        size++;
      const batch = generated.splice(0, size);
      await runBatch(batch, sent);
      sent += batch.length;
      if (sent >= nextProgress) {
        const seconds = (performance.now() - started) / 1000;
        progress(
          `${sent} requests, ${seconds.toFixed(0)} s, ${(sent / seconds).toFixed(0)}/s, 5xx so far: ${Object.entries(
            report.byStatus,
          )
            .filter(([status]) => status.startsWith("5"))
            .reduce((sum, [, n]) => sum + n, 0)}`,
        );
        nextProgress += progressEvery;
      }
    }
    report.seconds = (performance.now() - started) / 1000;
    if (exited)
      violations.set("server_exited", [
        { kind: "server_exited", detail: `the server exited during the run:\n${server.output().slice(-3000)}` },
      ]);

    // Alive afterwards: health, and a login, a message and its event end to end.
    if (!exited) {
      report.alive.health = (await fetch(`${server.url}/health`)).status === 200;
      try {
        report.alive.loginMessageEvent = await loginMessageEvent(server.url, cast, issuedTokens);
      } catch (error) {
        violations.set("not_alive_afterwards", [{ kind: "not_alive_afterwards", detail: String(error) }]);
      }
      if (!report.alive.health || !report.alive.loginMessageEvent) {
        violations.set(
          "not_alive_afterwards",
          violations.get("not_alive_afterwards") ?? [
            { kind: "not_alive_afterwards", detail: "GET /health or the login-message-event check failed" },
          ],
        );
      }
    }
    const code = await server.stop();
    report.alive.stoppedCleanly = code === 0;

    const leaks = secretsInLogs(server.output(), { jwtSecret, passwords: Object.values(cast.passwords), tokens: issuedTokens });
    if (leaks.length > 0)
      violations.set(
        "secret_in_logs",
        leaks.map((detail) => ({ kind: "secret_in_logs" as const, detail })),
      );
    report.violations = [...violations.values()].flat();
    return report;
  } finally {
    await digest?.close();
    await server?.stop("SIGKILL");
    await database.drop().catch(() => {});
    await rm(directory, { recursive: true, force: true });
  }
}

/** A fresh login of two actors, a message from one to the other, and its event on the recipient's stream. */
async function loginMessageEvent(url: string, cast: Cast, issuedTokens: string[]): Promise<boolean> {
  const [sender, recipient] = cast.actors as [string, string];
  const tokens: string[] = [];
  for (const username of [sender, recipient]) {
    // The actor may still be logged in from the run: end that session with its newest token first.
    const response = async () =>
      fetch(`${url}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password: cast.passwords[username] }),
      });
    let login = await response();
    if (login.status === 409) {
      for (const token of issuedTokens.filter((token) => decodeJwt(token).sub === username)) {
        await fetch(`${url}/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      }
      login = await response();
    }
    if (login.status !== 200) throw new Error(`login ${username} after the run: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    tokens.push(token);
    issuedTokens.push(token);
  }
  // The run may have left the recipient blocking the sender.
  await fetch(`${url}/blocks/${sender}`, { method: "DELETE", headers: { authorization: `Bearer ${tokens[1]}` } });
  const stream = await fetch(`${url}/events`, { headers: { authorization: `Bearer ${tokens[1]}` } });
  if (stream.status !== 200) throw new Error(`GET /events after the run: ${stream.status}`);
  const reader = new EventReader(stream);
  try {
    const text = `fuzz-text-alive-${randomBytes(4).toString("hex")}`;
    const sent = await fetch(`${url}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[0]}` },
      body: JSON.stringify({ to: recipient, text }),
    });
    if (sent.status !== 201) throw new Error(`POST /messages after the run: ${sent.status} ${await sent.text()}`);
    for (;;) {
      const event = await reader.next("message", 10_000);
      if ((event.data as { text?: string }).text === text) return true;
    }
  } finally {
    await reader.close();
  }
}

/** What the server's own output must never hold: the signing secret, passwords, tokens, session ids, message texts. */
function secretsInLogs(output: string, known: { jwtSecret: string; passwords: string[]; tokens: string[] }): string[] {
  const leaks: string[] = [];
  if (output.includes(known.jwtSecret)) leaks.push("the JWT signing secret");
  for (const password of known.passwords) if (output.includes(password)) leaks.push(`a password (${password.split("-")[0]}'s)`);
  for (const token of known.tokens) {
    const signature = token.split(".")[2]!;
    if (output.includes(signature)) leaks.push(`a token of ${String(decodeJwt(token).sub)}`);
    const sessionId = String(decodeJwt(token).sid);
    if (output.includes(sessionId)) leaks.push(`a raw session id (of ${String(decodeJwt(token).sub)})`);
  }
  const text = output.match(/fuzz-text-[\w-]+/);
  if (text) leaks.push(`a message text (${text[0]})`);
  return [...new Set(leaks)];
}
