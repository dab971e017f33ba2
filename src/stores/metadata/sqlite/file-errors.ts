import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StoreUnavailableError } from "../errors.js";

function deletedAdvice(path: string): string {
  return (
    `The metadata store ${path} was deleted or moved while weir had it open: nothing more can be recorded. ` +
    `Restore it, or run the command again to start a new, empty store there.`
  );
}

export function storeDeletedError(path: string): StoreUnavailableError {
  return new StoreUnavailableError(deletedAdvice(path));
}

/**
 * What to tell a user whose store file cannot be used, by SQLite error code. The raw
 * messages ("file is not a database", "attempt to write a readonly database") name
 * neither the file nor a way out.
 */
const ADVICE: [RegExp, (path: string) => string][] = [
  [
    /^SQLITE_(NOTADB|CORRUPT)/,
    (path) =>
      `The metadata store ${path} is corrupt or not a weir database. Move it aside (or restore a backup) ` +
      `and run \`weir init\` to start a new one.`,
  ],
  [/^SQLITE_READONLY_DBMOVED/, deletedAdvice],
  [
    /^SQLITE_(READONLY|PERM|AUTH)|^SQLITE_CANTOPEN|^EACCES|^EROFS|^EPERM/,
    (path) =>
      `The metadata store ${path} cannot be written (read-only file or folder, or no permission). ` +
      `Make it and its folder writable (with its -wal and -shm files), or point WEIR_STORE_URL at another store.`,
  ],
];

/** The StoreUnavailableError to throw for `error`, when it is about the file itself. */
export function storeFileError(path: string, error: unknown): StoreUnavailableError | undefined {
  if (error instanceof StoreUnavailableError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  for (const [pattern, advice] of ADVICE) {
    if (pattern.test(code)) {
      return new StoreUnavailableError(`${advice(path)} (${(error as Error).message})`, { cause: error });
    }
  }
  return undefined;
}

// Tuning, measured with bench/store-micro.ts (10,000–50,000 steps, 2 cores, ext4):
/** Page cache per connection, KiB. SQLite's default, 2 MiB: 81–101 µs/step at 50,000 steps; 32 MiB: 61–63. */
const CACHE_KIB = 32 * 1024;
/** WAL pages after which a commit checkpoints. SQLite's default, 1,000: 346–366 µs/step one step at a time; 10,000: 254–304. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** Size the WAL file is truncated back to after a checkpoint resets it, bytes (the default keeps it as large as it grew). */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

/** Opens the file (creating it and its folder if needed) with the store's settings. */
export function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    // Set first: switching to WAL below already needs a lock another process may hold.
    db.pragma("busy_timeout = 5000");
    db.pragma("journal_mode = WAL");
    // With WAL, NORMAL skips the fsync per commit: a power cut may lose the last commits but
    // never corrupts the file, and a killed process loses nothing it committed.
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    // Sorts and temporary indexes stay in memory; a larger page cache (the default is 2 MiB)
    // keeps the step-run and artifact indexes of a 100,000-step run cached.
    db.pragma("temp_store = MEMORY");
    db.pragma(`cache_size = ${-CACHE_KIB}`);
    // Checkpoint less often (pages changed again before the checkpoint are copied once) and
    // truncate the WAL back to a bounded size after a checkpoint resets it.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    return db;
  } catch (error) {
    db?.close();
    throw storeFileError(path, error) ?? error;
  }
}
