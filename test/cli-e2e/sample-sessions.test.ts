import { describe, expect, it, vi } from "vitest";
import { logIn, useChatServer, WAIT_MS, WELCOME } from "./harness.js";

// The original's sample sessions, each with its own users on one server.
const chatServer = useChatServer([
  "hans",
  "leia",
  "luke",
  "yoda",
  "obiwan",
  "vader",
  "padme",
  "anakin",
  "chewie",
  "lando",
  "rey",
  "finn",
  "poe",
  "bb8",
]);

const LOGGED_IN = `Username: Password: ${WELCOME}\n`;

describe("users chatting through the server", () => {
  it("lets two users message each other", async () => {
    const leia = await logIn(chatServer(), "leia");
    const hans = await logIn(chatServer(), "hans");
    await leia.sees("hans logged in\n");

    hans.type("message leia Hey Dude");
    await leia.sees("hans: Hey Dude\n");
    leia.type("message hans Hi hans, how are you?");
    await hans.sees("leia: Hi hans, how are you?\n");

    expect(leia.output()).toBe(`${LOGGED_IN}hans logged in\nhans: Hey Dude\n`);
    expect(hans.output()).toBe(`${LOGGED_IN}leia: Hi hans, how are you?\n`);
  });

  it("tells three users who logs in and out, and carries messages between all of them", async () => {
    const obiwan = await logIn(chatServer(), "obiwan");
    const luke = await logIn(chatServer(), "luke");
    await obiwan.sees("luke logged in\n");
    const yoda = await logIn(chatServer(), "yoda");
    await obiwan.sees("yoda logged in\n");
    await luke.sees("yoda logged in\n");

    yoda.type("message luke Do or do not");
    await luke.sees("yoda: Do or do not\n");
    luke.type("message obiwan Hey Dude");
    await obiwan.sees("luke: Hey Dude\n");
    obiwan.type("broadcast Hello there");
    await luke.sees("obiwan: Hello there\n");
    await yoda.sees("obiwan: Hello there\n");

    yoda.type("logout");
    expect(await yoda.exit).toBe(0);
    await obiwan.sees("yoda logged out\n");
    await luke.sees("yoda logged out\n");

    expect(obiwan.output()).toBe(`${LOGGED_IN}luke logged in\nyoda logged in\nluke: Hey Dude\nyoda logged out\n`);
    expect(luke.output()).toBe(`${LOGGED_IN}yoda logged in\nyoda: Do or do not\nobiwan: Hello there\nyoda logged out\n`);
    expect(yoda.output()).toBe(`${LOGGED_IN}obiwan: Hello there\n`);
  });

  it("skips a user who blocked the sender, says so, and hides the blocker's presence from them", async () => {
    const padme = await logIn(chatServer(), "padme");
    padme.type("block vader");
    await padme.sees("vader is blocked\n");
    const vader = await logIn(chatServer(), "vader");
    const anakin = await logIn(chatServer(), "anakin");
    await padme.sees("anakin logged in\n");

    vader.type("broadcast Hello everyone");
    await vader.sees("Your message could not be delivered to some recipients\n");
    await anakin.sees("vader: Hello everyone\n");
    vader.type("message padme are you there?");
    await vader.sees("Your message could not be delivered as the recipient has blocked you\n");

    padme.type("logout");
    expect(await padme.exit).toBe(0);
    await anakin.sees("padme logged out\n");
    anakin.type("message vader padme has left");
    await vader.sees("anakin: padme has left\n"); // everything sent to vader before it has arrived too

    // Blocking vader does not hide vader from padme.
    expect(padme.output()).toBe(`${LOGGED_IN}vader is blocked\nvader logged in\nanakin logged in\n`);
    expect(vader.output()).toBe(
      `${LOGGED_IN}anakin logged in\n` +
        "Your message could not be delivered to some recipients\n" +
        "Your message could not be delivered as the recipient has blocked you\n" +
        "anakin: padme has left\n",
    );
    expect(anakin.output()).toBe(`${LOGGED_IN}vader: Hello everyone\npadme logged out\n`);
  });

  it("keeps a message for an offline user and shows it right after their login, but not a broadcast", async () => {
    const lando = await logIn(chatServer(), "lando");
    lando.type("message chewie see you when you are back", "broadcast anyone around?");
    // Wait until both commands have been answered: a later command's answer proves the earlier ones ran.
    lando.type("block chewie");
    await lando.sees("chewie is blocked\n");
    lando.type("unblock chewie");
    await lando.sees("chewie is unblocked\n");

    const chewie = await logIn(chatServer(), "chewie");
    await chewie.sees("lando: see you when you are back\n");
    await lando.sees("chewie logged in\n");
    lando.type("message chewie welcome back");
    await chewie.sees("lando: welcome back\n");

    expect(chewie.output()).toBe(`${LOGGED_IN}lando: see you when you are back\nlando: welcome back\n`);
    expect(lando.output()).toBe(`${LOGGED_IN}chewie is blocked\nchewie is unblocked\nchewie logged in\n`);
  });

  it("lists the other users online now with whoelse, and also those online lately with whoelsesince", async () => {
    const finn = await logIn(chatServer(), "finn");
    const rey = await logIn(chatServer(), "rey");
    const poe = await logIn(chatServer(), "poe");
    await finn.sees("poe logged in\n");
    poe.type("block finn"); // blocking hides no one from whoelse
    await poe.sees("finn is blocked\n");
    rey.type("logout");
    expect(await rey.exit).toBe(0);
    await finn.sees("rey logged out\n");

    /** What a command printed: everything before the answer to an invalid command typed after it. */
    let shown = finn.output().length;
    const printedBy = async (command: string) => {
      finn.type(command, "dance");
      await vi.waitFor(() => expect(finn.output().slice(shown)).toContain("Error. Invalid command\n"), { timeout: WAIT_MS });
      const printed = finn.output().slice(shown).replace("Error. Invalid command\n", "");
      shown = finn.output().length;
      return printed.split("\n").filter((line) => line !== "");
    };

    expect(await printedBy("whoelse")).toEqual(["poe"]);
    // Users of this file's earlier tests logged out a moment ago too; bb8 has never logged in.
    const lately = await printedBy("whoelsesince 300");
    expect(lately).toEqual(expect.arrayContaining(["poe", "rey"]));
    expect(lately).not.toContain("finn");
    expect(lately).not.toContain("bb8");
    expect(lately).toEqual([...lately].sort());
  });
});
