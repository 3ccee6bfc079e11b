// Writes openapi/openapi.json from the app itself (a test fails when the committed file drifts).
import { mkdir, writeFile } from "node:fs/promises";
import { openPglite } from "../src/db/client.js";
import { formatOpenApi, openApiDocument } from "../src/openapi-document.js";
import { loadConfig } from "../src/config.js";
import { createChatContext } from "../src/server.js";

const database = await openPglite();
const chat = await createChatContext(database, loadConfig([], {}));
await mkdir("openapi", { recursive: true });
await writeFile("openapi/openapi.json", formatOpenApi(openApiDocument(chat.context)));
await chat.stop();
await database.close();
console.log("wrote openapi/openapi.json");
