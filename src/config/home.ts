import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { openSqliteStore } from "../stores/metadata/sqlite/sqlite-store.js";
import type { MetadataStore } from "../stores/metadata/types.js";

/**
 * Where weir keeps its embedded state: `WEIR_HOME`, else the nearest `.weir/` folder in the
 * working directory or above it (as git finds `.git/`, so `cd src && weir runs list` sees
 * the project's runs), else `.weir/` in the working directory (created on first use).
 * It holds the SQLite metadata store (`weir.db`) and the default artifact store (`artifacts/`).
 * Tests point WEIR_HOME at a temporary folder and touch no user files.
 */
export function weirHome(): string {
  return locateHome().home;
}

/** The home and how it was chosen (`weir status` says which). */
export function locateHome(cwd = process.cwd()): { home: string; source: "WEIR_HOME" | "found" | "new" } {
  if (process.env.WEIR_HOME) return { home: resolve(process.env.WEIR_HOME), source: "WEIR_HOME" };
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, ".weir");
    if (isDirectory(candidate)) return { home: candidate, source: "found" };
    if (dirname(dir) === dir) return { home: resolve(cwd, ".weir"), source: "new" };
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false; // unreadable parent folders are skipped, as git does
  }
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
