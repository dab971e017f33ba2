import type { Command } from "commander";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openMetadataStore, storeUrl, weirHome } from "../../config/home.js";
import { openStore, redact } from "../../stores/metadata/open.js";
import { resolveStack } from "../../stack/stack.js";
import { details } from "../output.js";

export function registerInitCommand(program: Command): void {
  program
    .command("init")
    .description("create WEIR_HOME (default .weir/), its metadata store and the default stack")
    .option("--store <url>", "metadata store URL kept in .weir/config.json (sqlite:PATH or postgresql://user@host:port/db)")
    .action(async (flags: { store?: string }) => {
      const home = weirHome();
      const configFile = join(home, "config.json");
      const existed = existsSync(join(home, "weir.db")) || existsSync(configFile);
      if (flags.store) {
        // Opened (and migrated) before it is written down: a URL that does not work is not kept.
        const checked = await openStore(flags.store);
        await checked.close();
        mkdirSync(home, { recursive: true });
        const config = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>) : {};
        writeFileSync(configFile, `${JSON.stringify({ ...config, storeUrl: flags.store }, null, 2)}\n`);
      }
      // Opening the store creates and migrates it; resolving "default" registers that stack.
      const store = await openMetadataStore(home);
      const stack = await resolveStack(store, "default", home);
      const active = (await store.getActiveStackName()) ?? "default";
      console.log(existed ? `weir home already initialized at ${home}` : `initialized weir home at ${home}`);
      console.log(
        details([
          ["metadata store", `${redact(storeUrl(home))} (${store.dialect})`],
          ["artifact store", stack.artifactStore.root],
          ["active stack", active],
        ]),
      );
      if (process.env.WEIR_STORE_URL && flags.store) console.log("note: WEIR_STORE_URL is set and wins over .weir/config.json in this shell");
    });
}
