import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestChat, type TestChat } from "../support/chat.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat();
});
afterAll(() => chat.close());

/** The src/href of every script and stylesheet the page loads. */
function assetsOf(html: string): string[] {
  const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((match) => match[1]!);
  const styles = [...html.matchAll(/<link\b[^>]*\bhref="([^"]+)"/g)].map((match) => match[1]!);
  return [...scripts, ...styles];
}

describe("the docs page", () => {
  it("loads its scripts and styles from this server, none from another host", async () => {
    const response = await chat.request("GET", "/docs");
    expect(response.status).toBe(200);
    const html = await response.text();
    const assets = assetsOf(html);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) expect(asset).toMatch(/^\/docs\/assets\//);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it("serves every script it references as JavaScript and every stylesheet as CSS, cached for a year", async () => {
    const html = await (await chat.request("GET", "/docs")).text();
    for (const asset of assetsOf(html)) {
      const response = await chat.request("GET", asset);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get("content-type"), asset).toMatch(asset.endsWith(".css") ? /^text\/css/ : /^text\/javascript/);
      expect(response.headers.get("cache-control"), asset).toContain("max-age=31536000");
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
  });

  it("serves the Swagger UI bundle itself from the installed package", async () => {
    const html = await (await chat.request("GET", "/docs")).text();
    const bundle = assetsOf(html).find((asset) => asset.endsWith("/swagger-ui-bundle.js"))!;
    expect(await (await chat.request("GET", bundle)).text()).toContain("SwaggerUIBundle");
  });

  it("serves no other file of the package, and no file outside it", async () => {
    const html = await (await chat.request("GET", "/docs")).text();
    const base = assetsOf(html)[0]!.replace(/\/[^/]+$/, "");
    for (const path of [`${base}/package.json`, `${base}/..%2F..%2Fpackage.json`, `${base}/index.html`]) {
      const response = await chat.request("GET", path);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type"), path).toContain("application/problem+json");
    }
  });
});
