import { PassThrough, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient } from "../../src/cli/client.js";
import { startFakeChatServer, type FakeChatServer } from "./fake-chat-server.js";

let server: FakeChatServer;
const running: Array<{ input: PassThrough; exit: Promise<number> }> = [];

beforeEach(async () => {
  server = await startFakeChatServer({ hans: "falcon", luke: "jedi", yoda: "wise" });
});

afterEach(async () => {
  for (const client of running.splice(0)) {
    client.input.end();
    await client.exit;
  }
  await server.close();
});

/** A client on a pipe, as a script would run it. */
function startClient(...lines: string[]) {
  const input = new PassThrough();
  let written = "";
  const output = new Writable({
    write(chunk, _encoding, callback) {
      written += String(chunk);
      callback();
    },
  });
  const exit = createClient({ input, output, baseUrl: server.baseUrl, terminal: false }).run();
  const client = {
    input,
    exit,
    output: () => written,
    type: (...more: string[]) => {
      for (const line of more) input.write(`${line}\n`);
    },
    sees: (text: string) => vi.waitFor(() => expect(written).toContain(text), { timeout: 3000 }),
  };
  client.type(...lines);
  running.push(client);
  return client;
}

async function loggedIn(username: string, password: string) {
  const client = startClient(username, password);
  await client.sees("Welcome to the greatest messaging application ever!\n");
  const streamOpened = () =>
    server.requests.some((request) => request.path === "/events" && request.headers.authorization === `Bearer token-${username}`);
  await vi.waitFor(() => expect(streamOpened()).toBe(true));
  return client;
}

describe("logging in", () => {
  it("asks only for the password again after a wrong one", async () => {
    const client = startClient("hans", "wrong", "falcon", "logout");
    expect(await client.exit).toBe(0);
    expect(client.output()).toBe(
      "Username: Password: Invalid Password. Please try again\n" +
        "Password: Welcome to the greatest messaging application ever!\n",
    );
  });

  it("asks for the username again after an unknown one", async () => {
    const client = startClient("han", "falcon", "hans", "falcon", "logout");
    expect(await client.exit).toBe(0);
    expect(client.output()).toBe(
      "Username: Password: Error. Invalid user\n" + "Username: Password: Welcome to the greatest messaging application ever!\n",
    );
  });

  it("prints the lockout text and exits with 1 after the third wrong password", async () => {
    const client = startClient("hans", "one", "two", "three", "falcon");
    expect(await client.exit).toBe(1);
    expect(client.output()).toMatch(/Invalid Password\. Your account has been blocked\. Please try again later\n$/);
  });

  it("offers its peer port at login", async () => {
    await loggedIn("hans", "falcon");
    const login = server.requests.find((request) => request.path === "/login");
    const body = JSON.parse(login?.body ?? "{}");
    expect(body).toMatchObject({ username: "hans", password: "falcon", p2pHost: "127.0.0.1" });
    expect(body.p2pPort).toBeGreaterThan(0);
  });
});

describe("commands", () => {
  it("prints the server's answers and errors, and rejects unknown commands", async () => {
    const luke = await loggedIn("luke", "jedi");
    const hans = await loggedIn("hans", "falcon");

    hans.type("whoelse");
    await hans.sees("\nluke\n");
    hans.type("block yoda");
    await hans.sees("yoda is blocked\n");
    hans.type("message obiwan hello");
    await hans.sees("Error. Invalid user\n");
    hans.type("dance");
    await hans.sees("Error. Invalid command\n");
    hans.type("message luke Hey Dude");
    await luke.sees("hans: Hey Dude\n");
  });

  it("logs out when its input ends", async () => {
    const hans = await loggedIn("hans", "falcon");
    hans.input.end();
    expect(await hans.exit).toBe(0);
    expect(server.requests.some((request) => request.method === "POST" && request.path === "/logout")).toBe(true);
  });
});

describe("the event stream", () => {
  it("prints deliveries and presence, and resumes with Last-Event-ID after a drop", async () => {
    const hans = await loggedIn("hans", "falcon");
    server.send("hans", "message", { id: "1", from: "luke", to: "hans", text: "Hey Dude", sentAt: "now" });
    server.send("hans", "presence", { username: "yoda", status: "online", at: "now" }, false);
    await hans.sees("luke: Hey Dude\nyoda logged in\n");

    server.dropStreams("hans");
    server.send("hans", "broadcast", { id: "2", from: "yoda", text: "missed while away", sentAt: "now" });

    await hans.sees("yoda: missed while away\n");
    const streams = server.requests.filter((request) => request.path === "/events");
    expect(streams.at(-1)?.headers["last-event-id"]).toBe("1");
    expect(hans.output().match(/luke: Hey Dude/g)).toHaveLength(1);
  });

  it("prints a clear line and exits when the server logs the user out for inactivity", async () => {
    const hans = await loggedIn("hans", "falcon");
    server.endSession("hans", "timeout");
    expect(await hans.exit).toBe(0);
    expect(hans.output()).toMatch(/Logged out after inactivity\n$/);
  });
});

describe("private messaging", () => {
  it("goes straight between the two clients, both ways, until one stops it", async () => {
    const luke = await loggedIn("luke", "jedi");
    const hans = await loggedIn("hans", "falcon");

    hans.type("private luke too early");
    await hans.sees("Error. Private messaging to luke not enabled\n");
    hans.type("startprivate luke");
    await hans.sees("Start private messaging with luke\n");
    await luke.sees("hans started private messaging with you\n");

    hans.type("private luke hey dude");
    await luke.sees("hans(private): hey dude\n");
    luke.type("private hans hi hans");
    await hans.sees("luke(private): hi hans\n");
    expect(server.requests.some((request) => request.body.includes("hey dude"))).toBe(false);

    hans.type("stopprivate luke");
    await hans.sees("Stopped private messaging with luke\n");
    await luke.sees("hans stopped private messaging with you\n");
    luke.type("private hans still there?");
    await luke.sees("Error. Private messaging to hans not enabled\n");
    expect(luke.output().match(/stopped private messaging/g)).toHaveLength(1);
  });

  it("tells the peer when the other side logs out", async () => {
    const luke = await loggedIn("luke", "jedi");
    const hans = await loggedIn("hans", "falcon");
    hans.type("startprivate luke");
    await luke.sees("hans started private messaging with you\n");

    hans.type("logout");
    expect(await hans.exit).toBe(0);
    await luke.sees("Private messaging with hans ended: hans logged out\n");
  });
});
