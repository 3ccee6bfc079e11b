import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordOf, startTestServer } from "../support/chat.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"];
const TIMEOUT = 30_000;

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
  async function person(username: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(`${server.url}/`);
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
});
