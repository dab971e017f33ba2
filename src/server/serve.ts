import { serve } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { Client } from "../client/client.js";
import { weirHome } from "../config/home.js";
import { createApp } from "./app.js";
import { resolveToken } from "./auth.js";

export interface ServerOptions {
  port?: number;
  /** 127.0.0.1 unless asked otherwise: the API exposes everything recorded. */
  host?: string;
  home?: string;
  token?: string;
  pollMs?: number;
  dashboardDir?: string;
  version?: string;
}

export interface RunningServer {
  url: string;
  token: string;
  tokenSource: "env" | "file" | "generated" | "option";
  close(): Promise<void>;
}

/** Starts `weir server`: the API and the dashboard over the home's metadata store. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const home = options.home ?? weirHome();
  const client = new Client({ home });
  const store = await client.store();
  const { token, source } = options.token ? { token: options.token, source: "option" as const } : resolveToken(home);
  const app = createApp({ client, store, home, token, pollMs: options.pollMs ?? 250, dashboardDir: options.dashboardDir, version: options.version });
  const host = options.host ?? "127.0.0.1";
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8080, hostname: host }, () => resolve(s));
    s.once("error", reject);
  });
  // Slow or idle clients must not hold sockets forever; SSE streams send data every poll.
  server.setTimeout?.(120_000);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    token,
    tokenSource: source,
    close: () =>
      new Promise<void>((resolve) => {
        const s = server as unknown as { closeAllConnections?(): void; close(cb: () => void): void };
        s.closeAllConnections?.();
        s.close(() => resolve());
      }),
  };
}
