import { createApp, openApiInfo } from "./app.js";
import type { ChatContext } from "./chat/context.js";

/** The OpenAPI document as the app serves it at GET /openapi.json. */
export function openApiDocument(context: ChatContext) {
  return createApp(context).getOpenAPI31Document(openApiInfo);
}

/** The committed form: stable key order from the app, two-space indent, trailing newline. */
export const formatOpenApi = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;
