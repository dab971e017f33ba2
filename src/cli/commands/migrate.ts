import type { Command } from "commander";
import { storeUrl } from "../../config/home.js";
import { LATEST_SCHEMA_VERSION } from "../../stores/metadata/migrations.js";
import { openStore, redact } from "../../stores/metadata/open.js";

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("apply pending schema migrations to the metadata store (WEIR_STORE_URL, or the project's)")
    .option("--store <url>", "the store to migrate (default: WEIR_STORE_URL, .weir/config.json, sqlite:.weir/weir.db)")
    .action(async (options: { store?: string }) => {
      const url = options.store ?? storeUrl();
      const store = await openStore(url, { migrate: false });
      try {
        const before = await store.schemaVersion();
        // Refuses a schema newer than this code, naming both versions.
        await store.migrate();
        const after = await store.schemaVersion();
        console.log(
          before === after
            ? `${redact(url)}: schema is up to date (version ${after})`
            : `${redact(url)}: migrated schema from version ${before} to ${after}`,
        );
        if (after !== LATEST_SCHEMA_VERSION) throw new Error(`schema is at ${after}, expected ${LATEST_SCHEMA_VERSION}`);
      } finally {
        await store.close();
      }
    });
}
