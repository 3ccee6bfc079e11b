import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../support/chat.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"];

const browserAvailable = existsSync(CHROMIUM);
// CI installs Chromium (.ci/run) and must run this; elsewhere it is skipped when there is none.
describe.skipIf(!browserAvailable && process.env.CI !== "true")("the docs page in headless Chromium", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer(["luke"]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("renders the API from this server alone, with no Content-Security-Policy violation", async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    const elsewhere: string[] = [];
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) violations.push(message.text());
    });
    page.on("request", (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith("data:")) elsewhere.push(request.url());
    });
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) =>
        console.error(`Content Security Policy: ${event.violatedDirective} blocked ${event.blockedURI}`),
      );
    });

    const response = await page.goto(`${server.url}/docs`);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.getByText("Chat service", { exact: false }).first().waitFor({ timeout: 20_000 });
    await page.locator(".opblock").first().waitFor({ timeout: 20_000 });
    // Open an operation, which draws its schemas and icons, to meet more of the page's styles.
    await page.locator(".opblock-summary").first().click();
    await page.locator(".opblock-body").first().waitFor({ timeout: 20_000 });

    expect(await page.locator(".opblock").count()).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    expect(elsewhere).toEqual([]);
    await page.close();
  }, 60_000);
});
