import { startCluster, type Cluster } from "./cluster.js";
import { startNatsServer, type NatsServer } from "./nats-server.js";
import { waitUntil } from "./wait.js";

/** Killed when the test process exits, however it ends: a node left running would hold its ports. */
const started = new Set<NatsServer>();
process.on("exit", () => {
  for (const server of started) server.process().kill("SIGKILL");
});

/** One node of a test NATS cluster: its client URL stays the same across kill and restart. */
type NatsNode = NatsServer & { readonly name: string };

/**
 * A NATS cluster of `size` nodes on loopback, full mesh of routes: node i listens for clients on
 * basePort + 2i and for routes on basePort + 2i + 1; monitoring goes on a random port (-m -1).
 * Resolves once every node has a route to every other, so a message published on one node
 * reaches a subscriber on any other.
 */
async function startNatsCluster(basePort: number, size = 3, clusterName = `chat-test-${basePort}`) {
  const routePort = (index: number) => basePort + 2 * index + 1;
  const indexes = Array.from({ length: size }, (_, index) => index);
  const down = new Set<NatsNode>();
  const launched = await Promise.allSettled(
    indexes.map(async (index) => {
      const routes = indexes.filter((other) => other !== index).map((other) => `nats://127.0.0.1:${routePort(other)}`);
      const server = await startNatsServer(basePort + 2 * index, [
        ...["-m", "-1", "-n", `n${index}`, "--cluster_name", clusterName],
        ...["--cluster", `nats://127.0.0.1:${routePort(index)}`, "--routes", routes.join(",")],
      ]);
      started.add(server);
      return Object.assign(server, { name: `n${index}` });
    }),
  );
  const nodes = launched.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = launched.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((node) => node.stop("SIGKILL")));
    throw failed.reason;
  }

  /** The current process's monitoring endpoint: its "Starting http monitor" line is the last one printed. */
  const monitorUrl = (node: NatsNode) => {
    const address = [...node.output().matchAll(/Starting http monitor on (127\.0\.0\.1:\d+)/g)].at(-1)?.[1];
    if (!address) throw new Error(`${node.name} printed no monitoring address:\n${node.output()}`);
    return `http://${address}`;
  };

  /** Waits until every running node has a route to every other running node. */
  const routesUp = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = nodes.filter((node) => !down.has(node));
      const routez = await Promise.all(running.map((node) => json<{ num_routes: number }>(`${monitorUrl(node)}/routez`)));
      if (routez.every((each) => each?.num_routes === running.length - 1)) return;
      if (Date.now() > deadline) throw new Error(`routes not up: ${JSON.stringify(routez)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  try {
    await routesUp();
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop("SIGKILL")));
    throw error;
  }

  return {
    nodes: nodes as readonly NatsNode[],
    /** Every node's client URL, comma-separated, starting from node `first` (for --nats-url). */
    urls(first = 0) {
      return [...nodes.slice(first), ...nodes.slice(0, first)].map((node) => node.url).join(",");
    },
    /**
     * SIGSTOP: the node hangs, its sockets stay open, and whatever its clients and routes send it from
     * now on is lost once it is killed; nobody notices before its pings go unanswered.
     */
    hang(node: NatsNode) {
      node.process().kill("SIGSTOP");
    },
    /** kill -9: no goodbye to its clients or routes. */
    async kill(node: NatsNode) {
      down.add(node);
      await node.stop("SIGKILL");
    },
    /** Starts killed nodes again on their ports and waits until every route is back. */
    async restart(...killed: NatsNode[]) {
      await Promise.all(killed.map((node) => node.restart()));
      for (const node of killed) down.delete(node);
      await routesUp();
    },
    /** Client connections each node holds now (0 for a node that is down). */
    async clientCounts(): Promise<number[]> {
      return Promise.all(
        nodes.map(async (node) =>
          down.has(node) ? 0 : ((await json<{ num_connections: number }>(`${monitorUrl(node)}/connz`))?.num_connections ?? 0),
        ),
      );
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop("SIGKILL")));
    },
  };
}

export type NatsCluster = Awaited<ReturnType<typeof startNatsCluster>>;

async function json<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url);
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A NATS cluster (client and route ports from `basePort`) and `size` chat instances over it, instance
 * i given every node's URL starting from node i, so their connections spread over the nodes.
 * Resolves once every instance says it is connected to NATS.
 */
export async function startChatOverNats(usernames: string[], size: number, basePort: number, extraArgs: string[] = []) {
  const nats = await startNatsCluster(basePort);
  let chat: Cluster | undefined;
  try {
    chat = await startCluster(usernames, size, (index) => ["--nats-url", nats.urls(index % nats.nodes.length), ...extraArgs]);
    for (const instance of chat.instances) await untilConnected(instance.url);
  } catch (error) {
    await chat?.stop();
    await nats.stop();
    throw error;
  }
  return { nats, chat };
}

/** Polls /ready until the instance answers 200 and says it is connected to NATS. */
export async function untilConnected(url: string, timeoutMs = 30_000) {
  let ready: { fanOut?: { kind: string; connected: boolean } } | undefined;
  await waitUntil(
    async () => {
      ready = await json<{ fanOut?: { kind: string; connected: boolean } }>(`${url}/ready`);
      return ready?.fanOut?.kind === "nats" && ready.fanOut.connected === true;
    },
    () => `${url} to be connected to NATS: ${JSON.stringify(ready)}`,
    timeoutMs,
    100,
  );
}
