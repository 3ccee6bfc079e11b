import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_HASH_COST, passwordOf } from "./chat.js";
import { openTestDatabase } from "./database.js";
import { spawnServer, type ServerProcess } from "./server-process.js";
import { EventReader } from "./sse.js";

/**
 * Several real server processes on one fresh PostgreSQL database (only with DATABASE_URL: the
 * embedded PGlite is single-instance). Users are the given names with password passwordOf(name).
 */
export async function startCluster(usernames: string[], size: number, extraArgs: string[] = []) {
  const database = await openTestDatabase();
  if (!database.url) throw new Error("startCluster needs DATABASE_URL");
  const directory = await mkdtemp(join(tmpdir(), "chat-cluster-"));
  const credentialsFile = join(directory, "credentials.txt");
  await writeFile(credentialsFile, usernames.map((name) => `${name} ${passwordOf(name)}`).join("\n") + "\n");
  const args = [
    "--database-url",
    database.url,
    "--credentials",
    credentialsFile,
    "--password-hash-cost",
    String(TEST_HASH_COST),
    ...extraArgs,
  ];
  const start = () => spawnServer(args, { DATABASE_URL: "" });
  // One at a time: the first applies the migrations and stores the users.
  const instances: ServerProcess[] = [];
  for (let index = 0; index < size; index++) instances.push(await start());

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
    async stop() {
      await Promise.all(instances.map((instance) => instance.stop("SIGKILL")));
      await database.close();
    },
  };
}

export type Cluster = Awaited<ReturnType<typeof startCluster>>;
