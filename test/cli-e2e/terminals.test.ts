import { describe, expect, it } from "vitest";
import { logIn, logInOnTerminal, startClientProcess, useChatServer, WELCOME } from "./harness.js";

// The client as people run it: on an interactive terminal, and as a process of its own.
const chatServer = useChatServer(["hans", "luke", "leia", "obiwan", "yoda"]);

describe("the client on an interactive terminal", () => {
  it("prints deliveries above the prompt while the line being typed stays whole", async () => {
    const obiwan = await logIn(chatServer(), "obiwan");
    const leia = await logInOnTerminal(chatServer(), "leia");
    await obiwan.sees("leia logged in\n");
    obiwan.type("startprivate leia");
    await leia.sees("obiwan started private messaging with you");

    await leia.type("message obiwan hel");
    obiwan.type("message leia Hey Dude");
    await leia.sees("obiwan: Hey Dude");
    obiwan.type("private leia psst, over here");
    await leia.sees("obiwan(private): psst, over here");
    const yoda = await logIn(chatServer(), "yoda");
    await leia.sees("yoda logged in");

    expect(leia.screen.lines).toEqual([
      "Username: leia",
      "Password:",
      WELCOME,
      "obiwan started private messaging with you",
      "obiwan: Hey Dude",
      "obiwan(private): psst, over here",
      "yoda logged in",
      "> message obiwan hel",
    ]);
    expect(leia.screen.cursor).toEqual({ row: 7, column: "> message obiwan hel".length });

    await leia.type("lo\r");
    await obiwan.sees("leia: hello\n");
    await leia.type("private obiwan hi back\r");
    await obiwan.sees("leia(private): hi back\n");
    yoda.type("broadcast Hello everyone");
    await leia.sees("yoda: Hello everyone");
    expect(leia.screen.lines.slice(7)).toEqual([
      "> message obiwan hello",
      "> private obiwan hi back",
      "yoda: Hello everyone",
      ">",
    ]);
    expect(leia.screen.cursor).toEqual({ row: 10, column: 2 });

    await leia.type("logout\r");
    expect(await leia.exit).toBe(0);
    await obiwan.sees("Private messaging with leia ended: leia logged out\n");
  });
});

describe("two client processes (npm run client and the chat-client bin)", () => {
  it("chat through the server and privately, then log out", async () => {
    const luke = await logIn(chatServer(), "luke", (server, ...lines) => startClientProcess(server, "bin", ...lines));
    const hans = await logIn(chatServer(), "hans", (server, ...lines) => startClientProcess(server, "npm", ...lines));
    await luke.sees("hans logged in\n");

    hans.type("message luke Hey Dude");
    await luke.sees("hans: Hey Dude\n");
    luke.type("message hans Hi hans");
    await hans.sees("luke: Hi hans\n");
    hans.type("startprivate luke");
    await hans.sees("Start private messaging with luke\n");
    await luke.sees("hans started private messaging with you\n");
    hans.type("private luke hey dude");
    await luke.sees("hans(private): hey dude\n");
    luke.type("private hans nobody else can read this");
    await hans.sees("luke(private): nobody else can read this\n");
    luke.type("stopprivate hans");
    await luke.sees("Stopped private messaging with hans\n");
    await hans.sees("luke stopped private messaging with you\n");
    hans.type("whoelse", "logout");
    expect(await hans.exit).toBe(0);
    await luke.sees("hans logged out\n");
    luke.type("logout");
    expect(await luke.exit).toBe(0);

    expect(hans.output()).toBe(
      `Username: Password: ${WELCOME}\n` +
        "luke: Hi hans\n" +
        "Start private messaging with luke\n" +
        "luke(private): nobody else can read this\n" +
        "luke stopped private messaging with you\n" +
        "luke\n",
    );
    expect(luke.output()).toBe(
      `Username: Password: ${WELCOME}\n` +
        "hans logged in\n" +
        "hans: Hey Dude\n" +
        "hans started private messaging with you\n" +
        "hans(private): hey dude\n" +
        "Stopped private messaging with hans\n" +
        "hans logged out\n",
    );
  }, 60_000); // two client processes start through tsx
});
