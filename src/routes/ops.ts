import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../lib/openapi.js";

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "The process answers",
  responses: {
    200: {
      description: "Alive",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
    },
  },
});

export function opsRoutes() {
  return createRouter().openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200));
}
