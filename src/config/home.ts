import { resolve } from "node:path";
import { openSqliteStore } from "../stores/metadata/sqlite/sqlite-store.js";
import type { MetadataStore } from "../stores/metadata/types.js";

/**
 * Where weir keeps its embedded state: `WEIR_HOME`, or `.weir/` in the working directory.
 * It holds the SQLite metadata store (`weir.db`) and the default artifact store (`artifacts/`).
 * Tests point WEIR_HOME at a temporary folder and touch no user files.
 */
export function weirHome(): string {
  return resolve(process.env.WEIR_HOME ?? ".weir");
}

const stores = new Map<string, Promise<MetadataStore>>();

/** The metadata store of a home, opened (and migrated) once per process. */
export function openMetadataStore(home = weirHome()): Promise<MetadataStore> {
  let store = stores.get(home);
  if (!store) {
    store = openSqliteStore(resolve(home, "weir.db"));
    stores.set(home, store);
    store.catch(() => stores.delete(home));
  }
  return store;
}

/** Closes every store this process opened (CLI exit, test teardown). */
export async function closeMetadataStores(): Promise<void> {
  const open = [...stores.values()];
  stores.clear();
  await Promise.all(open.map(async (s) => (await s).close()));
}
