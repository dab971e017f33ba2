import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MiddlewareHandler } from "hono";

/** Where a generated token is kept, so the server keeps the same token across restarts. */
export function tokenFile(home: string): string {
  return join(home, "server-token");
}

/**
 * The server's bearer token: `WEIR_SERVER_TOKEN`, else the one kept in `<home>/server-token`,
 * else a new random one written there (owner-only) — `generated` says so, for printing it once.
 */
export function resolveToken(home: string, env: NodeJS.ProcessEnv = process.env): { token: string; source: "env" | "file" | "generated" } {
  const fromEnv = env.WEIR_SERVER_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, source: "env" };
  const file = tokenFile(home);
  if (existsSync(file)) {
    const kept = readFileSync(file, "utf8").trim();
    if (kept) return { token: kept, source: "file" };
  }
  const token = randomBytes(24).toString("base64url");
  mkdirSync(home, { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, source: "generated" };
}

/** Compares in constant time: both sides are hashed first so their lengths cannot leak either. */
export function tokensMatch(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * `Authorization: Bearer TOKEN` on every request it guards. Never a query parameter: URLs end
 * up in logs and browser history (the dashboard reads the SSE stream with fetch, not EventSource).
 */
export function bearerAuth(expected: string): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const given = match?.[1];
    if (given === undefined || !tokensMatch(given, expected)) {
      c.header("WWW-Authenticate", 'Bearer realm="weir"');
      return c.json({ error: "unauthorized: send Authorization: Bearer <token> (see WEIR_SERVER_TOKEN)" }, 401);
    }
    await next();
  };
}
