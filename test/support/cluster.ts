import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMetrics, sumMetric } from "../../bench/metrics-scrape.js";
import { TEST_HASH_COST, passwordOf } from "./chat.js";
import { openTestDatabase } from "./database.js";
import { spawnServer, type ServerProcess } from "./server-process.js";
import { EventReader } from "./sse.js";

/**
 * Several real server processes on one fresh PostgreSQL database (only with DATABASE_URL: the
 * embedded PGlite is single-instance). Users are the given names with password passwordOf(name).
 * `extraArgs` may differ per instance: a function of the instance's index.
 */
export async function startCluster(usernames: string[], size: number, extraArgs: string[] | ((index: number) => string[]) = []) {
  const database = await openTestDatabase();
  if (!database.url) throw new Error("startCluster needs DATABASE_URL");
  const directory = await mkdtemp(join(tmpdir(), "chat-cluster-"));
  const credentialsFile = join(directory, "credentials.txt");
  await writeFile(credentialsFile, usernames.map((name) => `${name} ${passwordOf(name)}`).join("\n") + "\n");
  const args = ["--database-url", database.url, "--credentials", credentialsFile, "--password-hash-cost", String(TEST_HASH_COST)];
  const argsOf = (index: number) => [...args, ...(typeof extraArgs === "function" ? extraArgs(index) : extraArgs)];
  /** Starts one more instance, with the arguments of instance `index` (to replace it). */
  // Generous: on a loaded machine several instances starting at once take minutes.
  const start = (index = 0) => spawnServer(argsOf(index), { DATABASE_URL: "" }, 180_000);
  // One at a time: the first applies the migrations and stores the users.
  const instances: ServerProcess[] = [];
  for (let index = 0; index < size; index++) instances.push(await start(index));

  const call = async (instance: ServerProcess, method: string, path: string, token?: string, json?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    return fetch(instance.url + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  };

  return {
    instances,
    database,
    start,
    call,
    async login(instance: ServerProcess, username: string): Promise<string> {
      const response = await call(instance, "POST", "/login", undefined, { username, password: passwordOf(username) });
      if (response.status !== 200) throw new Error(`login ${username}: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { token: string }).token;
    },
    async events(instance: ServerProcess, token: string, lastEventId?: string): Promise<EventReader> {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
      const response = await fetch(`${instance.url}/events`, { headers });
      if (response.status !== 200) throw new Error(`events: ${response.status} ${await response.text()}`);
      return new EventReader(response);
    },
    /**
     * The sum of every series of one metric on an instance's /metrics, or of those whose labels
     * include `labels` (e.g. `kind="event"`); fails when the instance does not export it.
     */
    async metric(instance: ServerProcess, name: string, labels = ""): Promise<number> {
      const sum = sumMetric(parseMetrics(await (await call(instance, "GET", "/metrics")).text()), name, labels);
      if (sum === undefined) throw new Error(`no ${name}${labels ? `{${labels}}` : ""} in ${instance.url}/metrics`);
      return sum;
    },
    async stop() {
      await Promise.all(instances.map((instance) => instance.stop("SIGKILL")));
      await database.close();
    },
  };
}

export type Cluster = Awaited<ReturnType<typeof startCluster>>;
