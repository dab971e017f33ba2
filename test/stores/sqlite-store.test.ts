import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { migrations } from "../../src/stores/metadata/migrations.js";
import { timeOrderedId } from "../../src/ids.js";
import { openSqliteStore, SqliteMetadataStore } from "../../src/stores/metadata/sqlite/sqlite-store.js";
import { checkConcurrentWriters } from "./metadata-concurrency.js";
import { metadataStoreConformance } from "./metadata-store.conformance.js";
import { scheduleStoreConformance } from "./schedule-store.conformance.js";
import { migrationFromSchema4 } from "./migration-5.conformance.js";
import { FRESH_SCHEMA, FRESH_SCHEMA_VERSION } from "../../src/stores/metadata/sqlite/fresh-schema.js";
import { replayedSchema } from "../../scripts/fresh-schema.js";

const root = mkdtempSync(join(tmpdir(), "weir-sqlite-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let files = 0;
/** A fresh database path per call, in a not-yet-existing directory (the store creates it). */
const freshPath = (under = root) => join(under, `db-${++files}`, "metadata.db");

const conformanceRoot = join(root, "conformance");
metadataStoreConformance("sqlite", {
  open: async () => new SqliteMetadataStore({ path: freshPath(conformanceRoot), writerThread: "never" }),
  openSecond: async (first) => openSqliteStore((first as SqliteMetadataStore).path),
  cleanup: async () => rmSync(conformanceRoot, { recursive: true, force: true }),
});

// The same contract when every batch is committed on the store's writer thread (as large runs do).
const threadedRoot = join(root, "conformance-threaded");
metadataStoreConformance("sqlite, writer thread", {
  open: async () => new SqliteMetadataStore({ path: freshPath(threadedRoot), writerThread: "always" }),
  openSecond: async (first) => openSqliteStore((first as SqliteMetadataStore).path),
  cleanup: async () => rmSync(threadedRoot, { recursive: true, force: true }),
});

scheduleStoreConformance("sqlite", async () => {
  const store = new SqliteMetadataStore({ path: freshPath(conformanceRoot) });
  await store.migrate();
  return store;
});

{
  let path = "";
  migrationFromSchema4("sqlite", {
    empty: async () => {
      path = freshPath();
      mkdirSync(dirname(path), { recursive: true });
      const db = new Database(path);
      afterAll(() => db.close());
      return { dialect: "sqlite", exec: async (sql, params = []) => void db.prepare(sql).run(...params) };
    },
    open: () => openSqliteStore(path),
  });
}

describe("SqliteMetadataStore", () => {
  const opened: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const handle of opened.splice(0)) await handle.close();
  });

  async function open(path: string): Promise<SqliteMetadataStore> {
    const store = await openSqliteStore(path);
    opened.push(store);
    return store;
  }

  function raw(path: string): Database.Database {
    const db = new Database(path);
    opened.push(db);
    return db;
  }

  async function seedRun(store: SqliteMetadataStore) {
    const snapshot = await store.createSnapshot({
      pipelineName: "training",
      isDynamic: false,
      parameters: {},
      source: { module: "./p.js" },
      spec: null,
    });
    return store.createRun({
      name: "training-1",
      pipelineName: "training",
      snapshotId: snapshot.id,
      stackName: "default",
      isDynamic: false,
      enableCache: true,
    });
  }

  it("keeps the file in WAL mode with foreign keys on", async () => {
    const path = freshPath();
    const store = await open(path);
    await seedRun(store);
    expect(raw(path).pragma("journal_mode", { simple: true })).toBe("wal");
    expect((store as unknown as { db: Database.Database }).db.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("works in memory", async () => {
    const store = await open(":memory:");
    const run = await seedRun(store);
    expect(await store.getRun(run.id)).toEqual(run);
  });

  it("lets two stores on one file see each other's writes", async () => {
    const path = freshPath();
    const engine = await open(path);
    const cli = await open(path);

    const run = await seedRun(engine);
    expect(await cli.getRun(run.id)).toEqual(run);

    const step = await cli.createStepRun({
      runId: run.id,
      invocationId: "train",
      stepName: "train",
      position: 0,
      upstream: [],
      parameters: {},
    });
    await engine.updateStepRun(step.id, { status: "running", attempt: 1 });
    expect(await cli.getStepRun(step.id)).toMatchObject({ status: "running", attempt: 1 });
    expect(await engine.listStepRuns(run.id)).toHaveLength(1);
  });

  it("keeps data across reopening without running migrations again", async () => {
    const path = freshPath();
    const first = await open(path);
    const run = await seedRun(first);
    await first.saveStack({
      name: "default",
      components: [{ type: "orchestrator", name: "local", flavor: "local", config: {} }],
    });
    await first.setActiveStack("default");
    await first.close();
    const migrationRows = `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`;
    const recorded = raw(path).prepare(migrationRows).all();
    expect(recorded.map((row: any) => row.version)).toEqual(migrations.map((m) => m.version));

    const second = await open(path);
    await second.migrate();
    expect(await second.getRun(run.id)).toEqual(run);
    expect(await second.getActiveStackName()).toBe("default");
    expect(raw(path).prepare(migrationRows).all()).toEqual(recorded);
  });

  it("opens an up-to-date store without writing: it opens while another connection holds the write lock", async () => {
    const path = freshPath();
    const first = await open(path);
    const run = await seedRun(first);
    await first.close();
    // Another process in the middle of a write transaction (a run committing, say).
    const writer = raw(path);
    writer.exec("BEGIN IMMEDIATE");
    try {
      // Opening checks the schema version only: no migration transaction to wait for (and no
      // key check over every row, which took ~140 ms at 100,000 step runs), so this does not
      // wait out the busy timeout and fail with "database is locked".
      const second = await openSqliteStore(path);
      expect(await second.getRun(run.id)).toEqual(run);
      await second.close();
    } finally {
      writer.exec("ROLLBACK");
      writer.close();
    }
  });

  it("enforces the step configuration owner CHECK in the database itself", async () => {
    const path = freshPath();
    const store = await open(path);
    const run = await seedRun(store);
    const step = await store.createStepRun({
      runId: run.id,
      invocationId: "train",
      stepName: "train",
      position: 0,
      upstream: [],
      parameters: {},
    });
    const db = raw(path);
    db.pragma("foreign_keys = ON");
    const insert = db.prepare(
      `INSERT INTO step_configurations (id, snapshot_id, step_run_id, invocation_id, step_name, config)
       VALUES (?, ?, ?, 'train', 'train', '{}')`,
    );
    expect(() => insert.run("both", run.snapshotId, step.id)).toThrow(/CHECK constraint failed/);
    expect(() => insert.run("neither", null, null)).toThrow(/CHECK constraint failed/);
    expect(() => insert.run("snapshot", run.snapshotId, null)).not.toThrow();
    expect(() => insert.run("step-run", null, step.id)).not.toThrow();
  });

  it("gives a new database the schema the migrations leave, in one go (fresh-schema.ts is up to date)", async () => {
    // If this fails after a migration was added: node --import tsx scripts/fresh-schema.ts
    expect(FRESH_SCHEMA).toEqual(replayedSchema());
    expect(FRESH_SCHEMA_VERSION).toBe(migrations[migrations.length - 1].version);
    // A new file and a file migrated step by step from schema 1 end up with the same tables, indexes and rows.
    const schemaOf = (path: string) => {
      const db = raw(path);
      return {
        master: db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY name`).all(),
        sequences: db.prepare(`SELECT * FROM sequences`).all(),
        versions: db.prepare(`SELECT version, name FROM schema_migrations ORDER BY version`).all(),
      };
    };
    const fresh = freshPath();
    await open(fresh);
    const stepwise = freshPath();
    mkdirSync(dirname(stepwise), { recursive: true });
    const old = raw(stepwise);
    old.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    for (const statement of migrations[0].up("sqlite")) old.exec(statement);
    old.prepare(`INSERT INTO schema_migrations VALUES (1, ?, 0)`).run(migrations[0].name);
    await open(stepwise);
    const normalize = (schema: ReturnType<typeof schemaOf>) => ({
      ...schema,
      // ALTER TABLE keeps the original text of a table's CREATE statement with added columns appended: compare column lists instead.
      master: (schema.master as { type: string; name: string; sql: string | null }[]).map((m) => ({ ...m, sql: m.type === "table" ? null : m.sql })),
    });
    expect(normalize(schemaOf(fresh))).toEqual(normalize(schemaOf(stepwise)));
    for (const table of ["step_runs", "artifact_versions", "artifacts", "step_run_outputs", "step_run_inputs"]) {
      const columns = (path: string) => raw(path).prepare(`SELECT name, type, "notnull", pk FROM pragma_table_info(?)`).all(table);
      expect(columns(fresh), table).toEqual(columns(stepwise));
    }
  });

  it("declares migrations with unique, increasing versions and portable DDL for both dialects", () => {
    const versions = migrations.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    for (const migration of migrations) {
      // A migration that rebuilds SQLite tables says so; the others are the same statements in both dialects.
      if (!migration.rebuildsTables) expect(migration.up("postgres").length).toBe(migration.up("sqlite").length);
      expect(migration.up("postgres").join("\n")).not.toMatch(/AUTOINCREMENT|WITHOUT ROWID/);
      expect(migration.up("sqlite").join("\n")).not.toMatch(/ALTER COLUMN|DROP COLUMN|DROP CONSTRAINT/);
    }
  });
});

describe("SqliteMetadataStore at process exit", () => {
  it.each(["never", "always"])("commits the writes still queued when the process exits (writer thread: %s)", async (mode) => {
    const path = freshPath();
    const child = spawnSync(process.execPath, ["--import", "tsx", "test/fixtures/store/exit-with-pending-writes.ts", path, mode, "3000"], {
      cwd: join(import.meta.dirname, "..", ".."),
      encoding: "utf8",
    });
    expect(child.status, child.stderr).toBe(0);
    const runId = child.stdout.trim();
    const store = await openSqliteStore(path);
    try {
      expect((await store.listStepRuns(runId)).length).toBe(3000);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe("SqliteMetadataStore ids and batches", () => {
  const opened: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const handle of opened.splice(0)) await handle.close();
  });

  async function setup() {
    const path = freshPath();
    const store = await openSqliteStore(path);
    opened.push(store);
    const snapshot = await store.createSnapshot({
      pipelineName: "batching",
      isDynamic: true,
      parameters: {},
      source: { module: "./p.js" },
      spec: null,
    });
    const run = await store.createRun({
      name: "batching-1",
      pipelineName: "batching",
      snapshotId: snapshot.id,
      stackName: "default",
      isDynamic: true,
      enableCache: false,
    });
    return { path, store, run };
  }

  it("makes time-ordered UUIDs (version 7) for the ids it generates", async () => {
    const first = timeOrderedId();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = timeOrderedId();
    for (const id of [first, second]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first < second).toBe(true);
    expect(parseInt(second.slice(0, 8) + second.slice(9, 13), 16)).toBeLessThanOrEqual(Date.now());
    const { run } = await setup();
    expect(run.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it("holds the writes of a turn until the end of the turn, then commits them in one transaction", async () => {
    const { path, store, run } = await setup();
    const other = new Database(path, { readonly: true });
    opened.push(other);
    const committed = () => other.prepare(`SELECT invocation_id FROM step_runs ORDER BY position`).pluck().all();
    const newStep = (invocationId: string, position: number) => ({
      runId: run.id,
      invocationId,
      stepName: invocationId,
      position,
      upstream: [],
      parameters: {},
    });
    const writes = [store.createStepRun(newStep("a", 0)), store.createStepRun(newStep("b", 1))];
    // Synchronously, in the same turn: queued, not yet committed.
    expect(committed()).toEqual([]);
    await writes[0];
    expect(committed()).toEqual(["a", "b"]);
    await writes[1];
  });
});

describe("SqliteMetadataStore with several processes", () => {
  it("keeps versions, leases and writes right with four processes writing one file at once", async () => {
    await checkConcurrentWriters(`sqlite:${freshPath()}`);
  }, 180_000);
});
