import net, { type AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { passwordOf } from "../support/chat.js";
import { logIn, startClient, useChatServer, WELCOME } from "./harness.js";

const BLOCK_DURATION_SECONDS = 2;
const chatServer = useChatServer(["hans", "luke", "leia", "obiwan", "vader"], {
  blockDurationSeconds: BLOCK_DURATION_SECONDS,
});

describe("logging in with the terminal client", () => {
  it("welcomes the user", async () => {
    const hans = startClient(chatServer(), "hans", passwordOf("hans"));
    await hans.sees(WELCOME);
    hans.type("logout");
    expect(await hans.exit).toBe(0);
    expect(hans.output()).toBe(`Username: Password: ${WELCOME}\n`);
  });

  it("asks only for the password again after a wrong one", async () => {
    const luke = startClient(chatServer(), "luke", "not-it", passwordOf("luke"), "logout");
    expect(await luke.exit).toBe(0);
    expect(luke.output()).toBe(`Username: Password: Invalid Password. Please try again\nPassword: ${WELCOME}\n`);
  });

  it("asks for the username again after an unknown one", async () => {
    const client = startClient(chatServer(), "lea", "whatever", "leia", passwordOf("leia"), "logout");
    expect(await client.exit).toBe(0);
    expect(client.output()).toBe(`Username: Password: Invalid Username. Please try again\nUsername: Password: ${WELCOME}\n`);
  });

  it("refuses a second login of a user already logged in", async () => {
    await logIn(chatServer(), "obiwan");
    const again = startClient(chatServer(), "obiwan", passwordOf("obiwan"));
    await again.sees("Username: Password: This user is already logged in\nUsername: ");
    again.endInput();
    expect(await again.exit).toBe(0);
  });

  it("says so and exits when the server cannot be reached", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${closedPort}`;
    const client = startClient({ url }, "hans", passwordOf("hans"));
    expect(await client.exit).toBe(1);
    expect(client.output()).toBe(`Username: Password: Error. Cannot reach the server at ${url}\n`);
  });

  it("locks the account after the third wrong password, refuses it during the lock, and lets it in after", async () => {
    const first = startClient(chatServer(), "vader", "one", "two", "three", passwordOf("vader"));
    expect(await first.exit).toBe(1);
    const lockedAt = Date.now();
    expect(first.output()).toBe(
      "Username: Password: Invalid Password. Please try again\n" +
        "Password: Invalid Password. Please try again\n" +
        "Password: Invalid Password. Your account has been blocked. Please try again later\n",
    );

    // The right password does not help during the lock, and the client gives up at once.
    const during = startClient(chatServer(), "vader", passwordOf("vader"), "whoelse");
    expect(await during.exit).toBe(1);
    expect(during.output()).toBe(
      "Username: Password: Your account is blocked due to multiple login failures. Please try again later\n",
    );
    const refusedAfterMs = Date.now() - lockedAt;
    expect(refusedAfterMs, "the refused login came after the lock had ended").toBeLessThan(BLOCK_DURATION_SECONDS * 1000);

    await sleep(BLOCK_DURATION_SECONDS * 1000 + 200 - refusedAfterMs);
    const after = startClient(chatServer(), "vader", passwordOf("vader"), "logout");
    expect(await after.exit).toBe(0);
    expect(after.output()).toBe(`Username: Password: ${WELCOME}\n`);
  });
});
