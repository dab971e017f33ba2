import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { StoreUrlError } from "../stores/metadata/errors.js";
import { openStore } from "../stores/metadata/open.js";
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

/**
 * The metadata store's URL: `WEIR_STORE_URL`, else `storeUrl` in the home's `config.json`
 * (`weir init --store URL` writes it), else the SQLite file `sqlite:<home>/weir.db`.
 * Child processes are given this URL (WEIR_STORE_URL), never the folder.
 */
export function storeUrl(home = weirHome()): string {
  const fromEnvironment = process.env.WEIR_STORE_URL;
  if (fromEnvironment) return fromEnvironment;
  const configFile = resolve(home, "config.json");
  if (existsSync(configFile)) {
    let config: { storeUrl?: unknown };
    try {
      config = JSON.parse(readFileSync(configFile, "utf8")) as { storeUrl?: unknown };
    } catch (error) {
      throw new StoreUrlError(`${configFile} is not valid JSON (${(error as Error).message}): fix or delete it`, {
        cause: error,
      });
    }
    if (config.storeUrl !== undefined) {
      if (typeof config.storeUrl !== "string" || config.storeUrl === "") {
        throw new StoreUrlError(`"storeUrl" in ${configFile} must be a store URL string, e.g. "sqlite:.weir/weir.db"`);
      }
      return config.storeUrl;
    }
  }
  return `sqlite:${resolve(home, "weir.db")}`;
}

const stores = new Map<string, Promise<MetadataStore>>();
/** The URL each store of this process was opened from: what its child processes are given. */
const urlOfStore = new WeakMap<MetadataStore, string>();

/**
 * The metadata store, opened (and migrated) once per process per URL: by default the one
 * `storeUrl()` names; given a home, the one that home's settings name.
 */
export function openMetadataStore(home = weirHome()): Promise<MetadataStore> {
  return openMetadataStoreAt(storeUrl(home));
}

/** The metadata store at `url`, opened (and migrated) once per process. */
export function openMetadataStoreAt(url: string): Promise<MetadataStore> {
  let store = stores.get(url);
  if (!store) {
    store = openStore(url).then((opened) => {
      urlOfStore.set(opened, url);
      return opened;
    });
    stores.set(url, store);
    store.catch(() => stores.delete(url));
  }
  return store;
}

/**
 * The URL a store was opened from, to hand to another process (WEIR_STORE_URL); for a store
 * this process did not open by URL (a test's own instance), the default URL.
 */
export function storeUrlOf(store: MetadataStore): string {
  return urlOfStore.get(store) ?? storeUrl();
}

/** Closes every store this process opened (CLI exit, test teardown). */
export async function closeMetadataStores(): Promise<void> {
  const open = [...stores.values()];
  stores.clear();
  await Promise.all(
    open.map(async (s) => {
      const store = await s.catch(() => undefined);
      await store?.close();
    }),
  );
}
