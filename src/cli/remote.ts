import { Client } from "../client/client.js";
import type { RemoteClient } from "../client/remote-client.js";
import { CliError } from "./output.js";

/** The server the CLI reads through when WEIR_SERVER_URL is set (it needs WEIR_SERVER_TOKEN too). */
export function remoteServer(): RemoteClient | undefined {
  return new Client().server;
}

/**
 * Commands that write to the store (or run against it) have no server route: they refuse
 * under WEIR_SERVER_URL rather than quietly write to a local store nobody meant.
 */
export function refuseThroughServer(command: string): void {
  const url = process.env.WEIR_SERVER_URL;
  if (url) {
    throw new CliError(
      `weir ${command} needs direct store access and is not available through WEIR_SERVER_URL (${url}); unset WEIR_SERVER_URL to run it against a store`,
    );
  }
}
