/**
 * The metadata store by URL (API.md §8): `sqlite:PATH` or `postgresql://user@host:port/db`.
 * A process is given a URL, never a folder, so that child processes, workers and pods on
 * other machines open the same store.
 *
 * Kinds of store register under their URL scheme; the two built in are imported only when
 * a URL names them, so a SQLite user never loads the PostgreSQL driver.
 */
import { resolve } from "node:path";
import { StoreUrlError } from "./errors.js";
import type { MetadataStore } from "./types.js";

export interface OpenStoreOptions {
  /** Bring the schema up to date on open (the default). `weir migrate` opens without it. */
  migrate?: boolean;
}

/** A store that can say which schema version it is at: every SQL backend. */
export interface VersionedStore extends MetadataStore {
  /** The newest migration applied to this store (0 for an empty database). */
  schemaVersion(): Promise<number>;
  /** Where the store is, for messages (a file path, or the URL without its password). */
  readonly location: string;
}

export type StoreOpener = (url: string, options: Required<OpenStoreOptions>) => Promise<VersionedStore>;

const schemes = new Map<string, StoreOpener>();

/** Makes `openStore` open URLs of this scheme (without the colon, e.g. `postgresql`). */
export function registerStoreScheme(scheme: string, opener: StoreOpener): void {
  schemes.set(scheme.toLowerCase(), opener);
}

let sqliteModule: Promise<typeof import("./sqlite/sqlite-store.js")> | undefined;

/** Starts loading the SQLite store's module (the default store's); opening one waits for it. */
export function preloadSqliteStore(): Promise<unknown> {
  // A failure to load is reported by the open that needs it, not here.
  return (sqliteModule ??= import("./sqlite/sqlite-store.js")).catch(() => undefined);
}

registerStoreScheme("sqlite", async (url, options) => {
  const { openSqliteStore } = await (sqliteModule ??= import("./sqlite/sqlite-store.js"));
  return openSqliteStore(sqlitePath(url), options);
});

const openPostgres: StoreOpener = async (url, options) => {
  const { openPostgresStore } = await import("./postgres/postgres-store.js");
  return openPostgresStore(url, options);
};
registerStoreScheme("postgresql", openPostgres);
registerStoreScheme("postgres", openPostgres);

/** The scheme of a store URL, lower-cased, or undefined when it has none. */
function schemeOf(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
}

/** `sqlite:PATH` (relative to the working directory), `sqlite:///abs/path` or `sqlite::memory:`. */
export function sqlitePath(url: string): string {
  const rest = url.slice(url.indexOf(":") + 1);
  if (rest === ":memory:") return rest;
  const path = rest.startsWith("//") ? rest.replace(/^\/\/[^/]*/, "") : rest;
  if (path === "") throw new StoreUrlError(`store URL ${url} names no file: use sqlite:PATH, e.g. sqlite:.weir/weir.db`);
  return resolve(decodeURIComponent(path));
}

/** Opens (and by default migrates) the metadata store a URL names. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<VersionedStore> {
  const scheme = schemeOf(url);
  const opener = scheme && schemes.get(scheme);
  if (!opener) {
    const known = [...schemes.keys()].map((s) => `${s}:`).join(", ");
    throw new StoreUrlError(
      `store URL "${redact(url)}" ${scheme ? `has an unknown scheme "${scheme}:"` : "has no scheme"}; ` +
        `known: ${known} (e.g. sqlite:.weir/weir.db or postgresql://user@127.0.0.1:5432/weir). ` +
        `Set it with WEIR_STORE_URL or "storeUrl" in .weir/config.json.`,
    );
  }
  return opener(url, { migrate: options.migrate ?? true });
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
