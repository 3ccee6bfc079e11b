import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TEST_HASH_COST, passwordOf, startTestServer } from "../support/chat.js";
import { openTestDatabase } from "../support/database.js";
import { spawnServer, type ServerProcess } from "../support/server-process.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"];
const TIMEOUT = 30_000;

/** Writes the run's migrated template database into dataDir, so the server need not migrate a new one. */
async function seedDataDir(dataDir: string) {
  const dump = await readFile(inject("pgliteTemplate"));
  await (await PGlite.create({ dataDir, loadDataDir: new Blob([dump]) })).close();
}

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== "true")("the web chat page at /, in headless Chromium", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer(["luke", "hans", "yoda"]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A person in a browser context of their own, logged in through the form. */
  async function person(username: string, url = server.url): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${url}/`);
    await page.getByLabel("Username", { exact: true }).fill(username);
    await page.getByLabel("Password", { exact: true }).fill(passwordOf(username));
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("button", { name: "Log out" }).waitFor();
    return page;
  }
  async function send(page: Page, to: string, text: string) {
    await page.getByLabel("To", { exact: true }).fill(to);
    await page.getByLabel("Message", { exact: true }).fill(text);
    await page.getByRole("button", { name: "Send", exact: true }).click();
  }
  const deliveries = (page: Page) => page.getByRole("log");

  it("is served with a policy that allows only this service", async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await response.text()).toContain("Private peer-to-peer chat is in the terminal client");
  });

  it("lets two people chat both ways, delivers to someone offline at login, and reports a block in the original words", async () => {
    const luke = await person("luke");
    const hans = await person("hans");
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans logged in");
    await expect.poll(() => luke.getByRole("listitem").allTextContents(), { timeout: TIMEOUT }).toContain("hans");

    await send(hans, "luke", "Hey Dude");
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans: Hey Dude");
    await send(luke, "hans", "Hi hans");
    await expect.poll(() => deliveries(hans).textContent(), { timeout: TIMEOUT }).toContain("luke: Hi hans");
    await hans.getByLabel("Message", { exact: true }).fill("Hello everyone");
    await hans.getByRole("button", { name: "Broadcast" }).click();
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans (broadcast): Hello everyone");

    // yoda is offline: the message waits for him and arrives when he logs in.
    await send(hans, "yoda", "see you when you are back");
    await expect.poll(() => deliveries(hans).textContent(), { timeout: TIMEOUT }).toContain("stored until they log in");
    const yoda = await person("yoda");
    await expect.poll(() => deliveries(yoda).textContent(), { timeout: TIMEOUT }).toContain("hans: see you when you are back");

    // luke blocks hans: hans is told in the original words.
    await luke.getByLabel("To", { exact: true }).fill("hans");
    await luke.getByRole("button", { name: "Block", exact: true }).click();
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans is blocked");
    await send(hans, "luke", "still there?");
    await expect
      .poll(() => hans.getByRole("alert").textContent(), { timeout: TIMEOUT })
      .toBe("Your message could not be delivered as the recipient has blocked you");
    await luke.getByRole("button", { name: "Unblock" }).click();
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans is unblocked");

    // The conversation's history, newest first.
    await hans.getByLabel("To", { exact: true }).fill("luke");
    await hans.getByRole("button", { name: "History" }).click();
    await expect
      .poll(() => hans.locator("#history li").allTextContents(), { timeout: TIMEOUT })
      .toEqual(["luke → hans: Hi hans", "hans → luke: Hey Dude"]);

    // The README's picture of the page (docs/web-page.png), taken here so it shows the page as it is.
    if (process.env.WEB_PAGE_SCREENSHOT) await luke.screenshot({ path: "docs/web-page.png", fullPage: true });

    await hans.getByRole("button", { name: "Log out" }).click();
    await hans.getByRole("button", { name: "Log in" }).waitFor();
    await expect.poll(() => deliveries(luke).textContent(), { timeout: TIMEOUT }).toContain("hans logged out");
  }, 180_000);

  it("loses nothing on the page when the server restarts mid-chat: every message appears once, in order, without a reload", async () => {
    // A real server process the test can stop and start again on the same port and storage:
    // PostgreSQL when this run uses it, else PGlite in a data directory each process opens in turn.
    const directory = await mkdtemp(join(tmpdir(), "chat-web-restart-"));
    const credentialsFile = join(directory, "credentials.txt");
    await writeFile(credentialsFile, ["luke", "hans", "yoda"].map((name) => `${name} ${passwordOf(name)}`).join("\n") + "\n");
    const database = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
    const dataDir = join(directory, "data");
    if (!database) await seedDataDir(dataDir);
    const storage = database?.url ? ["--database-url", database.url] : ["--data-dir", dataDir];
    const args = ["--credentials", credentialsFile, "--password-hash-cost", String(TEST_HASH_COST), ...storage];
    let running: ServerProcess | undefined;
    try {
      running = await spawnServer(args, { DATABASE_URL: "" });
      const luke = await person("luke", running.url);
      const hans = await person("hans", running.url);
      /** The messages on a page, in the order they appear; anything else (presence, own sends) left out. */
      const received = (page: Page) =>
        page
          .getByRole("log")
          .locator("p")
          .allTextContents()
          .then((lines) => lines.filter((line) => /^(luke|hans|yoda): /.test(line)));

      await send(hans, "luke", "before the restart");
      await expect.poll(() => received(luke), { timeout: TIMEOUT }).toEqual(["hans: before the restart"]);
      await send(luke, "hans", "me too");
      await expect.poll(() => received(hans), { timeout: TIMEOUT }).toEqual(["luke: me too"]);

      // The harsher stop, kill -9: no stream is ended cleanly, and only what was committed survives.
      await running.stop("SIGKILL");

      // While the server is down a message cannot be sent: the page says so and keeps the text.
      await send(hans, "luke", "during the outage");
      await expect
        .poll(() => hans.getByRole("alert").textContent(), { timeout: TIMEOUT })
        .toBe("The server cannot be reached right now. Try again in a moment.");
      expect(await hans.getByLabel("Message", { exact: true }).inputValue()).toBe("during the outage");

      // Until yoda has written, the pages cannot reconnect, so his messages are ones they missed.
      // luke's browser is refused a connection, as while the server is down, and retries by itself
      // with Last-Event-ID; hans's is answered 503, as by a proxy in front of a restarting server,
      // which closes an EventSource for good: the page itself reopens it with ?lastEventId=.
      const events = (url: URL) => url.pathname === "/events";
      const turnedAway = { luke: 0, hans: 0 };
      await luke.context().route(events, (route) => (turnedAway.luke++, route.abort("connectionrefused")));
      await hans.context().route(events, (route) => (turnedAway.hans++, route.fulfill({ status: 503, body: "restarting" })));
      running = await spawnServer([...args, "--port", String(running.port)], { DATABASE_URL: "" });
      const login = await fetch(`${running.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "yoda", password: passwordOf("yoda") }),
      });
      const { token } = (await login.json()) as { token: string };
      for (const to of ["luke", "hans"]) {
        const sent = await fetch(`${running.url}/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ to, text: `while you were away, ${to}` }),
        });
        expect(sent.status).toBe(201);
      }
      await expect.poll(() => Math.min(turnedAway.luke, turnedAway.hans), { timeout: TIMEOUT }).toBeGreaterThan(0);
      for (const page of [luke, hans]) await page.context().unroute(events);

      // The text kept from the outage goes now; then the chat carries on, and nothing came twice.
      await hans.getByRole("button", { name: "Send", exact: true }).click();
      await send(luke, "hans", "after the restart");
      await expect
        .poll(() => received(luke), { timeout: TIMEOUT })
        .toEqual(["hans: before the restart", "yoda: while you were away, luke", "hans: during the outage"]);
      await expect
        .poll(() => received(hans), { timeout: TIMEOUT })
        .toEqual(["luke: me too", "yoda: while you were away, hans", "luke: after the restart"]);
      expect(await hans.getByRole("alert").textContent()).toBe("");
    } finally {
      await running?.stop("SIGKILL");
      await database?.close();
      await rm(directory, { recursive: true, force: true });
    }
  }, 180_000);
});
