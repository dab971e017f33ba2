import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod/v4";
import { RunNotFoundError } from "../authoring/errors.js";
import { ArtifactAccessError } from "./artifacts.js";
import { bearerAuth } from "./auth.js";
import { openApiDocument } from "./openapi.js";
import { routes, type ApiContext } from "./routes.js";

/** Requests carry no bodies today (every route is a GET); anything larger is refused outright. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Where `npm run build` puts the dashboard: <package>/dist/dashboard (from src/server or dist/server alike). */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../dist/dashboard", import.meta.url));

export interface AppOptions extends ApiContext {
  token: string;
  version?: string;
  dashboardDir?: string;
}

export function createApp(options: AppOptions): Hono {
  const { token, version = "0.0.0", dashboardDir = DASHBOARD_DIR, ...api } = options;
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    // Same-origin only: no CORS headers are ever sent, and nothing may frame or sniff.
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", c.res.headers.get("Cache-Control") ?? "no-store");
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => {
        // The rest of the body is never read, so this connection cannot carry another request.
        c.header("Connection", "close");
        return c.json({ error: `request body larger than ${MAX_BODY_BYTES} bytes` }, 413);
      },
    }),
  );

  const auth = bearerAuth(token);
  for (const route of routes) {
    const handler = async (c: Context) => {
      const params = route.params ? parse(route.params, c.req.param(), "path") : {};
      const query = route.query ? parse(route.query, c.req.query(), "query") : {};
      return route.handle(c, { params, query }, api);
    };
    if (route.public) app.get(route.path, handler);
    else app.get(route.path, auth, handler);
  }
  app.get("/api/openapi.json", auth, (c) => c.json(openApiDocument(routes, version)));
  app.all("/api/*", auth, (c) => c.json({ error: `no API route ${c.req.method} ${c.req.path}` }, 404));
  app.get("*", (c) => serveDashboard(c, dashboardDir));

  app.onError((error, c) => {
    if (error instanceof InputError) return c.json({ error: error.message }, 400);
    if (error instanceof RunNotFoundError) return c.json({ error: error.message }, 404);
    if (error instanceof ArtifactAccessError) return c.json({ error: error.message }, 403);
    return c.json({ error: error.message }, 500);
  });
  return app;
}

/** A query or path parameter that fails its schema: the message names the field. */
export class InputError extends Error {}

function parse<T extends z.ZodObject>(schema: T, input: Record<string, string>, where: string): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${where} parameter "${i.path.join(".")}": ${i.message}`);
  throw new InputError(`invalid input: ${problems.join("; ")}`);
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

// The dashboard's own files only: styles are inline (React Flow), images come as blob: URLs.
const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/** Static files of the built dashboard; any other path is the single-page app's index. */
function serveDashboard(c: Context, dir: string): Response {
  const root = resolve(dir);
  const index = join(root, "index.html");
  if (!existsSync(index)) {
    return c.text("The dashboard is not built: run `npm run build` (the API under /api/ works without it).", 503);
  }
  const wanted = resolve(root, `.${decodeURIComponent(c.req.path)}`);
  const file = wanted.startsWith(root + sep) && existsSync(wanted) && statSync(wanted).isFile() ? wanted : index;
  c.header("Content-Type", TYPES[extname(file)] ?? "application/octet-stream");
  c.header("Content-Security-Policy", CSP);
  // Built assets have content hashes in their names; the index must always be fresh.
  c.header("Cache-Control", file === index ? "no-cache" : "public, max-age=31536000, immutable");
  return c.body(readFileSync(file));
}
