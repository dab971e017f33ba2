import type { Command } from "commander";
import { existsSync } from "node:fs";
import { locateHome, openMetadataStore, storeUrl } from "../../config/home.js";
import { redact, sqlitePath } from "../../stores/metadata/open.js";
import type { RemoteClient } from "../../client/remote-client.js";
import { details, printJson, withJsonOption } from "../output.js";
import { remoteServer } from "../remote.js";

const HOME_SOURCES = {
  WEIR_HOME: "from $WEIR_HOME",
  found: "the nearest .weir/ in or above the working directory",
  new: "none in or above the working directory, so it is created here on first use",
} as const;

/** One line for `weir --help`: where commands run from here read and write. */
export function homeHelpLine(): string {
  const { home, source } = locateHome();
  return `\nweir home here: ${home} (${HOME_SOURCES[source]}); \`weir status\` shows the store and stack in use.`;
}

export function registerStatusCommand(program: Command): void {
  withJsonOption(
    program.command("status").description("which weir home, metadata store and stack the commands use from here (creates nothing)"),
  ).action(async (flags: { json?: boolean }) => {
    const server = remoteServer();
    if (server) return printServerStatus(server, flags.json);
    const { home, source } = locateHome();
    const url = storeUrl(home);
    // A SQLite file that does not exist yet is "not created"; a server store is asked.
    const database = url.startsWith("sqlite:") ? sqlitePath(url) : undefined;
    const initialized = database === undefined || existsSync(database);
    let activeStack = "default";
    let components: { type: string; name: string; flavor: string; config: Record<string, unknown> }[] = [];
    let runs: number | null = null;
    if (initialized) {
      const store = await openMetadataStore(home);
      activeStack = (await store.getActiveStackName()) ?? "default";
      components = (await store.getStack(activeStack))?.components ?? [];
      runs = (await store.listRuns()).length;
    }
    const status = { home, homeSource: source, metadataStore: redact(url), initialized, activeStack, components, runs };
    if (flags.json) return printJson(status);
    console.log(
      details([
        ["weir home", `${home} (${HOME_SOURCES[source]})`],
        ["metadata store", `${status.metadataStore}${initialized ? "" : " (not created yet)"}`],
        ["active stack", activeStack],
        ...components.map((c): [string, string] => [`  ${c.type}`, `${c.name} (${c.flavor}) ${JSON.stringify(c.config)}`]),
        ["runs", runs ?? 0],
      ]),
    );
  });
}

/** Under WEIR_SERVER_URL the commands that read go to the server: its home and store are the ones in use. */
async function printServerStatus(server: RemoteClient, json: boolean | undefined): Promise<void> {
  const status = { server: server.url, ...(await server.status()) };
  if (json) return printJson(status);
  console.log(`reads through the weir server at ${server.url} (WEIR_SERVER_URL); the server reports:`);
  console.log(
    details([
      ["weir home", `${status.home} (on the server)`],
      ["metadata store", status.metadataStore],
      ["active stack", status.activeStack],
      ...status.components.map((c): [string, string] => [`  ${c.type}`, `${c.name} (${c.flavor}) ${JSON.stringify(c.config)}`]),
      ["runs", status.runs],
    ]),
  );
}
