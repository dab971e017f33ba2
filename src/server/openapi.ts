import { z } from "zod/v4";
import type { Route } from "./routes.js";

/** The OpenAPI 3.1 document of the route table (zod schemas → JSON Schema parameters). */
export function openApiDocument(routes: readonly Route[], version: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const route of routes) {
    const parameters = [
      ...parametersOf(route.params, "path"),
      ...parametersOf(route.query, "query"),
    ];
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const content = route.produces ? { [route.produces]: {} } : { "application/json": {} };
    paths[path] = {
      get: {
        summary: route.summary,
        ...(route.public ? { security: [] } : {}),
        parameters,
        responses: {
          "200": { description: "OK", content },
          ...(route.public ? {} : { "401": { description: "missing or wrong bearer token" } }),
          ...(parameters.length > 0 ? { "400": { description: "invalid input (the message names the field)" } } : {}),
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "weir server", version, description: "Runs, step runs, artifacts and stacks recorded by weir." },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}

function parametersOf(schema: z.ZodObject | undefined, where: "path" | "query") {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: "input" }) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    schema: s,
  }));
}
