import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../support/cluster.js";
import type { EventReader } from "../support/sse.js";

const onPostgres = Boolean(process.env.DATABASE_URL);

type Instance = Cluster["instances"][number];

/** Sends `count` messages spread over the instances; returns the texts that got a 201. */
async function sendMany(cluster: Cluster, senders: [Instance, string][], to: string, count: number, tag: string) {
  const accepted: string[] = [];
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const [instance, token] = senders[index % senders.length]!;
      const text = `${tag}-${index}`;
      try {
        const response = await cluster.call(instance, "POST", "/messages", token, { to, text });
        statuses.push(response.status);
        if (response.status === 201) accepted.push(text);
        else await response.text();
      } catch {
        statuses.push(0); // connection refused or reset: not accepted
      }
    }),
  );
  return { accepted, statuses };
}

/** Reads message events until every expected text arrived (or the stream ends); returns texts and ids. */
async function collect(stream: EventReader, expected: Set<string>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const received: { id: string; text: string }[] = [];
  const seen = new Set<string>();
  while ([...expected].some((text) => !seen.has(text)) && Date.now() < deadline) {
    try {
      const event = await stream.next("message", Math.max(1, deadline - Date.now()));
      const text = (event.data as { text: string }).text;
      received.push({ id: event.id!, text });
      seen.add(text);
    } catch {
      break;
    }
  }
  return received;
}

describe.skipIf(!onPostgres)("faults with several instances", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(["hans", "luke", "leia", "yoda", "vader", "chewy"], 2);
  }, 120_000);
  afterAll(() => cluster?.stop());

  it("delivers every accepted message exactly once after kill -9 of the reader's instance", async () => {
    const [a, b] = cluster.instances as [Instance, Instance];
    const hans = await cluster.login(b, "hans");
    const leia = await cluster.login(b, "leia");
    const luke = await cluster.login(a, "luke");
    const first = await cluster.events(a, luke);

    const sending = sendMany(
      cluster,
      [
        [b, hans],
        [b, leia],
      ],
      "luke",
      150,
      "kill",
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    a.process.kill("SIGKILL");
    const { accepted } = await sending;
    expect(accepted.length).toBeGreaterThan(0);

    const before = first.events.filter((event) => event.event === "message");
    const lastId = before.at(-1)?.id ?? "0";
    const resumed = await cluster.events(b, luke, lastId);
    const after = await collect(
      resumed,
      new Set(accepted.filter((text) => !before.some((e) => (e.data as { text: string }).text === text))),
      15_000,
    );
    await resumed.close();

    const texts = [...before.map((event) => (event.data as { text: string }).text), ...after.map((event) => event.text)];
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts.sort()).toEqual([...accepted].sort());
    const ids = [...before.map((event) => Number(event.id)), ...after.map((event) => Number(event.id))];
    expect(ids).toEqual(ids.map((_, index) => index + 1));

    // The killed instance comes back on the same database and serves luke again.
    cluster.instances[0] = await cluster.start();
    for (const [instance, token] of [
      [b, hans],
      [b, leia],
      [cluster.instances[0], luke],
    ] as const) {
      expect((await cluster.call(instance, "POST", "/logout", token)).status).toBe(204);
    }
  }, 90_000);

  it("answers 503 while the database connections are cut, recovers by itself and loses nothing accepted", async () => {
    const [a, b] = cluster.instances as [Instance, Instance];
    const yoda = await cluster.login(a, "yoda");
    const vader = await cluster.login(b, "vader");
    const stream = await cluster.events(b, vader);

    const admin = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    const database = new URL(cluster.database.url!).pathname.slice(1);
    const sending = sendMany(cluster, [[a, yoda]], "vader", 120, "cut");
    await new Promise((resolve) => setTimeout(resolve, 100));
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`;
    const { accepted, statuses } = await sending;
    await admin.end();
    expect(
      statuses.filter((status) => status !== 201 && status !== 503),
      a.output() + b.output(),
    ).toEqual([]);

    // Recovers without a restart: a new message is accepted within a few seconds.
    let recovered = false;
    for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
      const response = await cluster.call(a, "POST", "/messages", yoda, { to: "vader", text: "after the cut" });
      if (response.status === 201) {
        recovered = true;
        accepted.push("after the cut");
      } else {
        expect(response.status).toBe(503);
        expect(response.headers.get("content-type")).toBe("application/problem+json");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    expect(recovered).toBe(true);

    // LISTEN resumed on b, and every accepted message reaches vader's stream exactly once.
    const received = await collect(stream, new Set(accepted), 15_000);
    const texts = received.map((event) => event.text);
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts.sort()).toEqual([...accepted].sort());
    await stream.close();
    await cluster.call(a, "POST", "/logout", yoda);
    await cluster.call(b, "POST", "/logout", vader);
  }, 90_000);

  it("on SIGTERM closes its streams and exits, and the client resumes on another instance", async () => {
    const [a, b] = cluster.instances as [Instance, Instance];
    const chewy = await cluster.login(b, "chewy");
    const hans = await cluster.login(b, "hans");
    const stream = await cluster.events(a, chewy);
    await cluster.call(b, "POST", "/messages", hans, { to: "chewy", text: "before" });
    const first = await stream.next("message");

    const exitCode = a.stop("SIGTERM");
    await stream.closed(10_000);
    expect(await exitCode).toBe(0);
    await expect(fetch(`${a.url}/health`)).rejects.toThrow();

    await cluster.call(b, "POST", "/messages", hans, { to: "chewy", text: "while away" });
    const resumed = await cluster.events(b, chewy, first.id);
    expect((await resumed.next("message")).data).toMatchObject({ text: "while away" });
    await resumed.close();
    cluster.instances[0] = await cluster.start();
    await cluster.call(b, "POST", "/logout", chewy);
    await cluster.call(b, "POST", "/logout", hans);
  }, 90_000);
});
