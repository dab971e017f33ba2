import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openMetadataStore, weirHome } from "../../config/home.js";
import { resolveStack } from "../../stack/stack.js";
import { details } from "../output.js";

export function registerInitCommand(program: Command): void {
  program
    .command("init")
    .description("create WEIR_HOME (default .weir/), its metadata store and the default stack")
    .action(async () => {
      const home = weirHome();
      const database = join(home, "weir.db");
      const existed = existsSync(database);
      // Opening the store creates and migrates it; resolving "default" registers that stack.
      const store = await openMetadataStore(home);
      const stack = await resolveStack(store, "default", home);
      const active = (await store.getActiveStackName()) ?? "default";
      console.log(existed ? `weir home already initialized at ${home}` : `initialized weir home at ${home}`);
      console.log(
        details([
          ["metadata store", `${database} (${store.dialect})`],
          ["artifact store", stack.artifactStore.root],
          ["active stack", active],
        ]),
      );
    });
}
