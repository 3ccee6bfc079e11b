import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentSecurityPolicy, SECURITY_HEADERS } from "../../src/http/response-headers.js";
import { createTestChat, type TestChat } from "../support/chat.js";

let chat: TestChat;
beforeAll(async () => {
  chat = await createTestChat({}, { corsOrigins: ["https://app.example"] });
});
afterAll(() => chat.close());

const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

// The policies as hono's secureHeaders options, as they were written before the headers went to node:http directly.
const API_POLICY_OPTIONS = { defaultSrc: ["'none'"], frameAncestors: ["'none'"] };
const DOCS_PAGE_POLICY_OPTIONS = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};
const WEB_PAGE_POLICY_OPTIONS = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

function expectSecurityHeaders(response: Response, what: string) {
  expect(response.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(response.headers.get("x-frame-options"), what).toBe("DENY");
  expect(response.headers.get("referrer-policy"), what).toBe("no-referrer");
}

describe("security headers", () => {
  it("are on JSON answers, problem+json errors, the document and the metrics, with a policy that loads nothing", async () => {
    const { hans } = await chat.users("hans");
    const token = await chat.login(hans);
    const responses: [string, Response][] = [
      ["login", await chat.request("POST", "/login", { json: { username: hans, password: "wrong" } })],
      ["online", await chat.request("GET", "/users/online", { token })],
      ["unauthorized", await chat.request("GET", "/users/online")],
      ["validation error", await chat.request("POST", "/messages", { token, json: { to: 1 } })],
      ["not found", await chat.request("GET", "/no/such/route")],
      ["method not allowed", await chat.request("DELETE", "/health")],
      ["health", await chat.request("GET", "/health")],
      ["metrics", await chat.request("GET", "/metrics")],
      ["openapi", await chat.request("GET", "/openapi.json")],
      [
        "preflight",
        await chat.request("OPTIONS", "/login", {
          headers: { origin: "https://app.example", "access-control-request-method": "POST" },
        }),
      ],
    ];
    for (const [what, response] of responses) {
      expectSecurityHeaders(response, what);
      expect(response.headers.get("content-security-policy"), what).toBe(API_POLICY);
    }
  });

  it("are on the event stream read in-process (on node:http its head is written before them)", async () => {
    const { luke } = await chat.users("luke");
    const token = await chat.login(luke);
    const response = await chat.request("GET", "/events", { token });
    expect(response.status).toBe(200);
    expectSecurityHeaders(response, "events");
    expect(response.headers.get("content-security-policy")).toBe(API_POLICY);
    await response.body?.cancel();
  });

  it("let the docs page load its own scripts and styles and nothing from elsewhere", async () => {
    const response = await chat.request("GET", "/docs");
    expectSecurityHeaders(response, "docs");
    const policy = Object.fromEntries(
      (response.headers.get("content-security-policy") ?? "").split(";").map((directive) => {
        const [name, ...sources] = directive.trim().split(" ");
        return [name, sources.join(" ")];
      }),
    );
    expect(policy).toMatchObject({
      "default-src": "'none'",
      "script-src": "'self'",
      "style-src": "'self'",
      "connect-src": "'self'",
      "frame-ancestors": "'none'",
    });
    expect(JSON.stringify(policy)).not.toMatch(/unsafe|\*|https?:/);
  });

  it("let the web chat page and its files load from this service only", async () => {
    const types = { "/": "text/html", "/web/app.js": "text/javascript", "/web/style.css": "text/css" };
    for (const [path, type] of Object.entries(types)) {
      const response = await chat.request("GET", path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type"), path).toBe(`${type}; charset=utf-8`);
      // Revalidated on every load, so a new version of the page is never mixed with an old script.
      expect(response.headers.get("cache-control"), path).toBe("no-cache");
      expect((await response.text()).length, path).toBeGreaterThan(100);
      expectSecurityHeaders(response, path);
      const policy = response.headers.get("content-security-policy") ?? "";
      expect(policy, path).toContain("script-src 'self'");
      expect(policy, path).toContain("connect-src 'self'");
      expect(policy, path).toContain("frame-ancestors 'none'");
      expect(policy, path).not.toMatch(/unsafe|\*|https?:/);
    }
  });
});

describe("the security headers written out", () => {
  it("are the ones hono's secureHeaders sets with the same options, each policy included", async () => {
    for (const [path, policy] of [
      ["/messages", API_POLICY_OPTIONS],
      ["/docs", DOCS_PAGE_POLICY_OPTIONS],
      ["/web/app.js", WEB_PAGE_POLICY_OPTIONS],
    ] as const) {
      const reference = new Hono();
      reference.use(secureHeaders({ xFrameOptions: "DENY", referrerPolicy: "no-referrer", contentSecurityPolicy: policy }));
      reference.get("*", (c) => c.body(null));
      const expected = [...(await reference.request(path)).headers].sort();
      const ours = [...SECURITY_HEADERS, ["content-security-policy", contentSecurityPolicy(path)]].sort();
      expect(ours, path).toEqual(expected);
    }
  });
});
