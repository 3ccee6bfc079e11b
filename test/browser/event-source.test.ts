import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { passwordOf, startTestServer } from "../support/chat.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT = { timeout: 20_000, interval: 50 };

/** The page a second origin serves: it logs in with fetch and keeps what its EventSource receives. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>chat on another origin</title>
<script>
  window.received = [];
  window.opens = 0;
  window.drops = 0;
  window.connect = async (api, username, password) => {
    const response = await fetch(api + "/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(response.status + " " + JSON.stringify(body));
    const source = new EventSource(api + "/events?access_token=" + encodeURIComponent(body.token));
    for (const type of ["message", "broadcast", "presence", "session_ended", "resync"]) {
      source.addEventListener(type, (event) => window.received.push({ type, id: event.lastEventId, data: JSON.parse(event.data) }));
    }
    source.addEventListener("open", () => window.opens++);
    source.addEventListener("error", () => window.drops++);
    window.source = source;
    await new Promise((resolve) => source.addEventListener("open", resolve, { once: true }));
    return { token: body.token, requestId: response.headers.get("x-request-id") };
  };
</script>`;

type Received = { type: string; id: string; data: Record<string, unknown> };

const browserAvailable = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run) and must run this; elsewhere it is skipped when there is none.
describe.skipIf(!browserAvailable && process.env.CI !== "true")("a page on another origin, in headless Chromium", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let pageServer: Server;
  let browser: Browser;
  let page: Page;
  const streamRequests: { url: string; lastEventId: string | undefined }[] = [];

  beforeAll(async () => {
    pageServer = createServer((_request, response) => response.writeHead(200, { "content-type": "text/html" }).end(PAGE));
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    const pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    server = await startTestServer(["luke", "hans", "yoda"], {}, { config: { corsOrigins: [pageOrigin] } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    page = await browser.newPage();
    page.on("request", (request) => {
      if (new URL(request.url()).pathname !== "/events" || request.method() !== "GET") return;
      void request
        .allHeaders()
        .then((headers) => streamRequests.push({ url: request.url(), lastEventId: headers["last-event-id"] }));
    });
    await page.goto(`${pageOrigin}/`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  const received = () => page.evaluate(() => (window as unknown as { received: Received[] }).received);
  const asHans = async (path: string, token: string, json: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(json),
    });
    expect(response.status).toBe(201);
  };

  it("logs in with fetch, streams with the token in the query, and resumes without loss after the server drops it", async () => {
    const login = await page.evaluate(
      ([api, username, password]) =>
        (
          window as unknown as { connect(a: string, u: string, p: string): Promise<{ token: string; requestId: string | null }> }
        ).connect(api!, username!, password!),
      [server.url, "luke", passwordOf("luke")],
    );
    expect(login.requestId).toMatch(/.+/); // X-Request-Id is exposed to the page

    // A presence notice, a message and a broadcast arrive.
    const hansLogin = await fetch(`${server.url}/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "hans", password: passwordOf("hans") }),
    });
    const hans = ((await hansLogin.json()) as { token: string }).token;
    await asHans("/messages", hans, { to: "luke", text: "Hey Dude" });
    await asHans("/broadcasts", hans, { text: "Hello everyone" });
    await vi.waitFor(
      async () => expect((await received()).map((event) => event.type)).toEqual(["presence", "message", "broadcast"]),
      WAIT,
    );
    const before = await received();
    expect(before[0]!.data).toMatchObject({ username: "hans", status: "online" });
    expect(before[1]!.data).toMatchObject({ from: "hans", to: "luke", text: "Hey Dude" });
    expect(before[2]!.data).toMatchObject({ from: "hans", text: "Hello everyone" });

    // The server drops the stream; a message sent while no stream is open must still arrive.
    server.context.hub.closeAll();
    expect(server.context.hub.streamCount()).toBe(0);
    await asHans("/messages", hans, { to: "luke", text: "while you were away" });
    await vi.waitFor(async () => expect((await received()).map((event) => event.type)).toContain("message"), WAIT);
    await vi.waitFor(async () => expect((await received()).length).toBe(4), WAIT);
    await vi.waitFor(() => expect(server.context.hub.streamCount()).toBe(1), WAIT);
    await asHans("/messages", hans, { to: "luke", text: "and now, live" });
    await vi.waitFor(async () => expect((await received()).length).toBe(5), WAIT);

    const all = await received();
    const durable = all.filter((event) => event.type === "message" || event.type === "broadcast");
    expect(durable.map((event) => event.data.text)).toEqual([
      "Hey Dude",
      "Hello everyone",
      "while you were away",
      "and now, live",
    ]);
    const ids = durable.map((event) => Number(event.id));
    expect(ids).toEqual([ids[0], ids[0]! + 1, ids[0]! + 2, ids[0]! + 3]); // no gap, no duplicate
    const state = await page.evaluate(() => {
      const page = window as unknown as { opens: number; drops: number };
      return { opens: page.opens, drops: page.drops };
    });
    expect(state).toEqual({ opens: 2, drops: 1 });
    // The browser resumed by itself, from the last id it had seen.
    await vi.waitFor(() => expect(streamRequests).toHaveLength(2), WAIT);
    expect(streamRequests[0]!.lastEventId).toBeUndefined();
    expect(streamRequests[1]!.lastEventId).toBe(String(ids[1]));
    expect(streamRequests.every((request) => request.url.includes("access_token="))).toBe(true);
  }, 120_000);
});
