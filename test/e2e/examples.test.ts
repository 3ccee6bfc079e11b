import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { passwordOf, startTestServer } from "../support/chat.js";

// The files under examples/ run here against a live server, so they never rot.
const examples = new URL("../../examples/", import.meta.url);
const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = { timeout: 40_000, interval: 50 };

let server: Awaited<ReturnType<typeof startTestServer>>;
let pageServer: Server;
let pageOrigin: string;
beforeAll(async () => {
  // The browser example is a page on another origin: serve it from one, and let that origin call the API.
  const page = await readFile(new URL("browser/chat.html", examples));
  pageServer = createServer((_request, response) => response.writeHead(200, { "content-type": "text/html" }).end(page));
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  server = await startTestServer(["luke", "hans", "leia", "yoda"], {}, { config: { corsOrigins: [pageOrigin] } });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => pageServer?.close(resolve));
});

async function login(username: string): Promise<string> {
  const response = await fetch(`${server.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: passwordOf(username) }),
  });
  return ((await response.json()) as { token: string }).token;
}

const python = (...args: string[]) => ["examples/python/chat.py", ...args];

describe("examples/python/chat.py (standard library only)", () => {
  it("listens and sends: a message and a broadcast arrive as lines, a refusal prints the server's text", async () => {
    const listener = spawn(
      "python3",
      python("listen", "--server", server.url, "--user", "luke", "--password", passwordOf("luke")),
      {
        cwd: new URL("..", examples),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    listener.stdout.on("data", (chunk) => (output += chunk));
    listener.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => listener.once("exit", resolve));
    try {
      await vi.waitFor(() => expect(output).toContain("Logged in as luke"), WAIT);
      // Wait for the stream to be open: a presence notice of a login shows it is.
      const cwd = new URL("..", examples);
      const send = (user: string, ...rest: string[]) =>
        run("python3", python("send", "--server", server.url, "--user", user, "--password", passwordOf(user), ...rest), { cwd });
      await vi.waitFor(() => expect(server.context.hub.streamCount()).toBe(1), WAIT);
      const sent = await send("hans", "--to", "luke", "Hey", "Dude");
      expect(sent.stdout).toBe("to luke: Hey Dude (delivered)\n");
      const broadcast = await send("hans", "Hello", "everyone");
      expect(broadcast.stdout).toBe("broadcast to 1: Hello everyone\n");
      await vi.waitFor(() => expect(output).toContain("hans: Hey Dude\nhans logged out\n"), WAIT);
      await vi.waitFor(() => expect(output).toContain("hans (broadcast): Hello everyone\n"), WAIT);

      const yoda = await login("yoda");
      await fetch(`${server.url}/blocks/leia`, { method: "PUT", headers: { authorization: `Bearer ${yoda}` } });
      await fetch(`${server.url}/logout`, { method: "POST", headers: { authorization: `Bearer ${yoda}` } });
      const refused = await send("leia", "--to", "yoda", "hello?").then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused).toMatchObject({
        code: 1,
        stderr: "Your message could not be delivered as the recipient has blocked you\n",
      });
    } finally {
      listener.kill("SIGTERM");
      await exited;
    }
    expect(output).toMatch(/Logged out\n$/); // SIGTERM logs the listener out
  }, 120_000);
});

describe("examples/curl/chat.sh", () => {
  it("walks through the API with curl and prints the recipient's stream", async () => {
    const { stdout } = await run(
      "sh",
      [new URL("curl/chat.sh", examples).pathname, server.url, "yoda", passwordOf("yoda"), "luke", passwordOf("luke")],
      { timeout: 30_000 },
    );
    expect(stdout).toMatch(/## message\n\{"id":\d+,"from":"yoda","to":"luke","text":"Hey Dude",.*"delivery":"delivered"\}/);
    expect(stdout).toContain('## whoelse\n{"users":["luke"]}');
    expect(stdout).toContain('"detail":"Your message could not be delivered as the recipient has blocked you"');
    expect(stdout).toContain("## logout\n204");
    expect(stdout).toMatch(/event: message\ndata: \{[^\n]*"text":"Hey Dude"/);
    expect(stdout).toMatch(/event: broadcast\ndata: \{[^\n]*"text":"Hello everyone"/);
    expect(stdout).toMatch(/event: session_ended\ndata: \{"reason":"logout"\}\n/);
  }, 120_000);
});

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== "true")("examples/browser/chat.html in headless Chromium", () => {
  let browser: Browser;
  afterAll(() => browser?.close());

  it("logs in from another origin and shows each event as it arrives", async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    const page = await browser.newPage();
    const query = new URLSearchParams({ api: server.url, username: "leia", password: passwordOf("leia") });
    await page.goto(`${pageOrigin}/chat.html?${query}`);
    await vi.waitFor(async () => expect(await page.locator("body").getAttribute("data-stream")).toBe("open"), WAIT);

    const token = await login("hans");
    await fetch(`${server.url}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ to: "leia", text: "Hey Dude" }),
    });
    const log = page.getByRole("log");
    await vi.waitFor(
      async () => expect(await log.textContent()).toMatch(/^presence \{"username":"hans","status":"online"/m),
      WAIT,
    );
    await vi.waitFor(
      async () => expect(await log.textContent()).toMatch(/^message \{[^\n]*"from":"hans","to":"leia","text":"Hey Dude"/m),
      WAIT,
    );
  }, 120_000);
});
