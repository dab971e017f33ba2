import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { closeMetadataStores, openMetadataStore, storeUrl } from "../../src/config/home.js";
import { StoreSchemaError, StoreUnavailableError, StoreUrlError } from "../../src/stores/metadata/errors.js";
import { LATEST_SCHEMA_VERSION } from "../../src/stores/metadata/migrations.js";
import { openStore, redact, sqlitePath } from "../../src/stores/metadata/open.js";
import { storeFileError } from "../../src/stores/metadata/sqlite/file-errors.js";
import { weir } from "../cli/weir.js";
import { createTestDatabase } from "./postgres-database.js";

const root = mkdtempSync(join(tmpdir(), "weir-store-url-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => mkdtempSync(join(root, `d${++n}-`));

const saved = { WEIR_STORE_URL: process.env.WEIR_STORE_URL, WEIR_HOME: process.env.WEIR_HOME };
afterEach(async () => {
  await closeMetadataStores();
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe("openStore (store by URL)", () => {
  it("opens and migrates a SQLite file named by sqlite:PATH, relative or absolute", async () => {
    const path = join(freshDir(), "sub", "weir.db");
    const store = await openStore(`sqlite:${path}`);
    expect(store.dialect).toBe("sqlite");
    expect(store.location).toBe(path);
    expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await store.close();
    expect(sqlitePath("sqlite:.weir/weir.db")).toBe(join(process.cwd(), ".weir/weir.db"));
    expect(sqlitePath("sqlite:///tmp/x.db")).toBe("/tmp/x.db");
    const memory = await openStore("sqlite::memory:");
    expect(await memory.listRuns()).toEqual([]);
    await memory.close();
  });

  it("opens a PostgreSQL database named by postgresql://", async () => {
    const database = await createTestDatabase();
    try {
      const store = await openStore(database.url);
      expect(store.dialect).toBe("postgres");
      expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
      await store.close();
    } finally {
      await database.drop();
    }
  });

  it("refuses an unknown or missing scheme, naming the URL and the known schemes", async () => {
    await expect(openStore("mysql://db/weir")).rejects.toThrow(StoreUrlError);
    await expect(openStore("mysql://db/weir")).rejects.toThrow(/unknown scheme "mysql:".*sqlite:.*postgresql:/);
    await expect(openStore("weir.db")).rejects.toThrow(/"weir.db" has no scheme/);
    await expect(openStore("sqlite:")).rejects.toThrow(/names no file/);
    expect(redact("postgresql://me:secret@host:5432/db")).toBe("postgresql://me:***@host:5432/db");
  });

  it("refuses a store whose schema is newer than the code, naming both versions and what to do", async () => {
    const path = join(freshDir(), "weir.db");
    (await openStore(`sqlite:${path}`)).close();
    const db = new Database(path);
    db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from the future', 0)`).run();
    db.close();
    const refused = openStore(`sqlite:${path}`);
    await expect(refused).rejects.toThrow(StoreSchemaError);
    await expect(openStore(`sqlite:${path}`)).rejects.toThrow(
      new RegExp(`${path} has schema version 99, newer than this version of weir knows \\(up to ${LATEST_SCHEMA_VERSION}\\).*Upgrade weir`),
    );
  });
});

describe("storeUrl and openMetadataStore", () => {
  it("takes WEIR_STORE_URL, else the home's config.json, else sqlite:<home>/weir.db", async () => {
    const home = freshDir();
    delete process.env.WEIR_STORE_URL;
    expect(storeUrl(home)).toBe(`sqlite:${join(home, "weir.db")}`);
    writeFileSync(join(home, "config.json"), JSON.stringify({ storeUrl: `sqlite:${join(home, "other.db")}` }));
    expect(storeUrl(home)).toBe(`sqlite:${join(home, "other.db")}`);
    process.env.WEIR_STORE_URL = "sqlite::memory:";
    expect(storeUrl(home)).toBe("sqlite::memory:");
    delete process.env.WEIR_STORE_URL;
    process.env.WEIR_HOME = home;
    const store = await openMetadataStore();
    expect((store as unknown as { location: string }).location).toBe(join(home, "other.db"));
    expect(await openMetadataStore(home)).toBe(store);
  });

  it("names the config file when it is broken", () => {
    const home = freshDir();
    delete process.env.WEIR_STORE_URL;
    writeFileSync(join(home, "config.json"), "{ nope");
    expect(() => storeUrl(home)).toThrow(new RegExp(`${join(home, "config.json")} is not valid JSON`));
    writeFileSync(join(home, "config.json"), JSON.stringify({ storeUrl: 3 }));
    expect(() => storeUrl(home)).toThrow(/"storeUrl" in .* must be a store URL string/);
  });
});

describe("store file errors", () => {
  it("names a corrupt file and what to do", async () => {
    const path = join(freshDir(), "weir.db");
    writeFileSync(path, "this is not a database, just text that is long enough to be read as a header ".repeat(20));
    const opening = openStore(`sqlite:${path}`);
    await expect(opening).rejects.toThrow(StoreUnavailableError);
    await expect(openStore(`sqlite:${path}`)).rejects.toThrow(new RegExp(`${path} is corrupt or not a weir database.*weir init`));
  });

  it("names a file deleted while open", async () => {
    const path = join(freshDir(), "weir.db");
    const store = await openStore(`sqlite:${path}`);
    await store.createSnapshot({ pipelineName: "p", isDynamic: false, parameters: {}, source: { module: "x" }, spec: null });
    for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
    const write = store.createSnapshot({ pipelineName: "p", isDynamic: false, parameters: {}, source: { module: "x" }, spec: null });
    await expect(write).rejects.toThrow(new RegExp(`${path} was deleted or moved while weir had it open`));
    await store.close().catch(() => undefined);
  });

  it("names a read-only file and what to do", () => {
    // Tests run as root, which ignores file modes: take SQLite's own error from a read-only connection.
    const path = join(freshDir(), "weir.db");
    new Database(path).exec("CREATE TABLE t (x)");
    const readOnly = new Database(path, { readonly: true });
    let raw: unknown;
    try {
      readOnly.exec("INSERT INTO t VALUES (1)");
    } catch (error) {
      raw = error;
    } finally {
      readOnly.close();
    }
    expect(String(raw)).toMatch(/readonly/);
    expect(storeFileError(path, raw)?.message).toMatch(new RegExp(`${path} cannot be written.*Make it and its folder writable`));
    expect(storeFileError(path, new Error("UNIQUE constraint failed"))).toBeUndefined();
    unlinkSync(path);
  });
});

describe("weir migrate", () => {
  it("applies pending migrations and says so, then reports the schema up to date", async () => {
    const home = freshDir();
    const path = join(home, "weir.db");
    // A store at schema version 1, as an older weir left it.
    const { migrations } = await import("../../src/stores/metadata/migrations.js");
    const db = new Database(path);
    db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    for (const statement of migrations[0].up("sqlite")) db.exec(statement);
    db.prepare(`INSERT INTO schema_migrations VALUES (1, 'initial schema', 0)`).run();
    db.close();
    const first = await weir(home, "migrate", "--store", `sqlite:${path}`);
    expect(first.stderr).toBe("");
    expect(first.stdout).toContain(`sqlite:${path}: migrated schema from version 1 to ${LATEST_SCHEMA_VERSION}`);
    const second = await weir(home, "migrate");
    expect(second.stdout).toContain(`schema is up to date (version ${LATEST_SCHEMA_VERSION})`);
    const bad = await weir(home, "migrate", "--store", "mysql://x/y");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: store URL "mysql:\/\/x\/y" has an unknown scheme/);
  }, 60_000);
});
