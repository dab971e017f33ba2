import { InvalidArgumentError, type Command } from "commander";
import { readFileSync } from "node:fs";
import { openMetadataStore, weirHome } from "../../config/home.js";
import { Scheduler } from "../../schedules/scheduler.js";
import { isAlive } from "../../stores/metadata/liveness.js";
import { tokenFile } from "../../server/auth.js";
import { startServer } from "../../server/serve.js";

/** `weir server`: the JSON API under /api/ and the dashboard at /, until interrupted. */
export function registerServerCommand(program: Command): void {
  program
    .command("server")
    .description("serve the dashboard and the JSON API over the metadata store")
    .option("--port <port>", "port to listen on (0 picks a free one)", port, 8080)
    .option("--host <host>", "address to bind (the default keeps it on this machine)", "127.0.0.1")
    .option("--no-scheduler", "do not fire schedules from this server (run `weir scheduler` elsewhere)")
    .action(async (flags: { port: number; host: string; scheduler: boolean }) => {
      const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
      const server = await startServer({ port: flags.port, host: flags.host, version });
      console.log(`weir server listening on ${server.url}`);
      console.log(`dashboard: ${server.url}/   API: ${server.url}/api/   OpenAPI: ${server.url}/api/openapi.json`);
      if (server.tokenSource === "generated") {
        console.log(`token (generated, kept in ${tokenFile(weirHome())}): ${server.token}`);
      } else if (server.tokenSource === "file") {
        console.log(`token: kept in ${tokenFile(weirHome())}`);
      } else {
        console.log("token: from WEIR_SERVER_TOKEN");
      }
      if (flags.host !== "127.0.0.1" && flags.host !== "localhost" && flags.host !== "::1") {
        console.log(`warning: bound to ${flags.host}; anyone who can reach it and has the token can read every run`);
      }
      // The server fires schedules too; any number of servers and schedulers may share a store.
      const scheduler = flags.scheduler
        ? new Scheduler({ store: await openMetadataStore(), isRunning: (run) => isAlive(run), log: (line) => console.log(`scheduler: ${line}`) })
        : undefined;
      scheduler?.start();
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await scheduler?.stop();
      await server.close();
    });
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError("must be a port number (0-65535)");
  return n;
}
