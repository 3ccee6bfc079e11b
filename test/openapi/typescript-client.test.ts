import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";
import { EVENT_DATA } from "../../src/chat/events.js";

/** The data schema of each event type: `private_started` -> `PrivateStartedEvent`. */
const schemaName = (type: string) => `${type.replace(/(?:^|_)(.)/g, (_match, letter: string) => letter.toUpperCase())}Event`;

describe("a client generated from openapi/openapi.json with openapi-typescript", () => {
  it("gets a TypeScript type for the data of every event and for the stream's frames", async () => {
    const types = astToString(await openapiTS(new URL("../../openapi/openapi.json", import.meta.url)));
    for (const type of Object.keys(EVENT_DATA)) {
      expect(types, schemaName(type)).toMatch(new RegExp(`\\n {8}${schemaName(type)}: \\{`));
    }
    expect(types).toMatch(/\n {8}EventStreamFrame: components\["schemas"\]\["MessageFrame"\] \|/);
    expect(types).toContain(`"text/event-stream": components["schemas"]["EventStreamFrame"]`);
    // Each frame ties its event name to its data type, so narrowing on `event` types `data`.
    for (const type of Object.keys(EVENT_DATA)) {
      const frame = new RegExp(`event: "${type}";\\n(?:.*\\n)*? {12}data: components\\["schemas"\\]\\["${schemaName(type)}"\\];`);
      expect(types, `${type} frame`).toMatch(frame);
    }
  });
});
