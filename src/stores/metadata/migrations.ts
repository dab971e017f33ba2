/**
 * Versioned schema migrations for the metadata store, shared by every SQL backend.
 *
 * The DDL is kept portable between SQLite and PostgreSQL so one list serves both:
 * TEXT ids (UUIDs), BIGINT epoch-millisecond times, JSON as TEXT (parsed by the store),
 * INTEGER 0/1 booleans. `up` branches on the dialect only where the two cannot agree.
 *
 * Migrations are append-only: once released, a migration is never edited; schema changes
 * go in a new entry with the next version number.
 */

import { StoreSchemaError } from "./errors.js";

export type Dialect = "sqlite" | "postgres";

export interface Migration {
  version: number;
  name: string;
  up: (dialect: Dialect) => string[];
  /**
   * The SQLite statements rebuild tables (create a copy, drop the original, rename): the
   * SQLite store runs such a migration with foreign-key enforcement off, as SQLite's
   * documented procedure for table changes requires, and checks every key before commit.
   */
  rebuildsTables?: boolean;
}

/**
 * The bookkeeping table. It exists before any migration runs (the runner must read it to
 * know what is pending), so it is created with IF NOT EXISTS rather than by a migration.
 */
export const SCHEMA_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/** An integer key that grows with every insert and is never reused (log cursors rely on it). */
function autoIncrementKey(dialect: Dialect): string {
  return dialect === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
}

// Status columns carry no CHECK constraint on purpose: adding a status later would force
// SQLite to rebuild the table. The store's TypeScript types keep the values in line.
const initialSchema: Migration = {
  version: 1,
  name: "initial schema",
  up: (dialect) => [
    `CREATE TABLE pipelines (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created_at BIGINT NOT NULL
    )`,

    `CREATE TABLE pipeline_snapshots (
      id TEXT PRIMARY KEY,
      pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
      is_dynamic INTEGER NOT NULL CHECK (is_dynamic IN (0, 1)),
      parameters TEXT NOT NULL,
      source TEXT NOT NULL,
      spec TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    `CREATE INDEX pipeline_snapshots_pipeline ON pipeline_snapshots (pipeline_id)`,

    // stack_name is plain text, not a foreign key: a run keeps naming the stack it ran on
    // even after that stack is replaced or deleted.
    `CREATE TABLE pipeline_runs (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
      snapshot_id TEXT NOT NULL REFERENCES pipeline_snapshots (id) ON DELETE CASCADE,
      stack_name TEXT NOT NULL,
      is_dynamic INTEGER NOT NULL CHECK (is_dynamic IN (0, 1)),
      status TEXT NOT NULL,
      orchestrator_run_id TEXT,
      created_at BIGINT NOT NULL,
      started_at BIGINT,
      ended_at BIGINT,
      error TEXT,
      output TEXT NOT NULL,
      enable_cache INTEGER NOT NULL CHECK (enable_cache IN (0, 1)),
      fingerprint TEXT,
      heartbeat_at BIGINT,
      owner TEXT
    )`,
    `CREATE INDEX pipeline_runs_created ON pipeline_runs (created_at)`,
    `CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (pipeline_id, created_at)`,
    `CREATE INDEX pipeline_runs_status ON pipeline_runs (status)`,
    `CREATE INDEX pipeline_runs_snapshot ON pipeline_runs (snapshot_id)`,

    // (run_id, invocation_id) is the durable key a resumed or replayed run finds its steps by.
    `CREATE TABLE step_runs (
      id TEXT PRIMARY KEY,
      run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
      invocation_id TEXT NOT NULL,
      step_name TEXT NOT NULL,
      status TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      mapping_key TEXT,
      cache_key TEXT,
      original_step_run_id TEXT REFERENCES step_runs (id) ON DELETE SET NULL,
      position INTEGER NOT NULL,
      upstream TEXT NOT NULL,
      parameters TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      started_at BIGINT,
      ended_at BIGINT,
      error TEXT,
      metadata TEXT NOT NULL,
      UNIQUE (run_id, invocation_id)
    )`,
    // Partial: most step runs have no cache key (cache off), and they need no index entry.
    `CREATE INDEX step_runs_cache_key ON step_runs (cache_key) WHERE cache_key IS NOT NULL`,

    // Static pipelines own their step configurations through the snapshot; dynamic ones
    // discover steps while running and record each configuration with its step run.
    `CREATE TABLE step_configurations (
      id TEXT PRIMARY KEY,
      snapshot_id TEXT REFERENCES pipeline_snapshots (id) ON DELETE CASCADE,
      step_run_id TEXT REFERENCES step_runs (id) ON DELETE CASCADE,
      invocation_id TEXT NOT NULL,
      step_name TEXT NOT NULL,
      config TEXT NOT NULL,
      CHECK ((snapshot_id IS NULL) <> (step_run_id IS NULL))
    )`,
    `CREATE INDEX step_configurations_snapshot ON step_configurations (snapshot_id)`,
    `CREATE INDEX step_configurations_step_run ON step_configurations (step_run_id)`,

    `CREATE TABLE artifacts (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      created_at BIGINT NOT NULL
    )`,

    `CREATE TABLE artifact_versions (
      id TEXT PRIMARY KEY,
      artifact_id TEXT NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
      version INTEGER NOT NULL,
      uri TEXT NOT NULL,
      data_type TEXT NOT NULL,
      materializer TEXT NOT NULL,
      content_hash TEXT NOT NULL,
      size BIGINT NOT NULL,
      metadata TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      UNIQUE (artifact_id, version)
    )`,

    // Lineage. Artifact versions are not cascaded away while a step run still links them.
    `CREATE TABLE step_run_inputs (
      step_run_id TEXT NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
      artifact_version_id TEXT NOT NULL REFERENCES artifact_versions (id),
      input_name TEXT NOT NULL,
      PRIMARY KEY (step_run_id, input_name)
    )`,
    `CREATE INDEX step_run_inputs_artifact ON step_run_inputs (artifact_version_id)`,

    // A dynamic output has one row per emitted item, so (output_name, position) is the key.
    `CREATE TABLE step_run_outputs (
      step_run_id TEXT NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
      artifact_version_id TEXT NOT NULL REFERENCES artifact_versions (id),
      output_name TEXT NOT NULL,
      mapping_key TEXT,
      position INTEGER NOT NULL,
      PRIMARY KEY (step_run_id, output_name, position)
    )`,
    `CREATE INDEX step_run_outputs_artifact ON step_run_outputs (artifact_version_id)`,

    `CREATE TABLE logs (
      id ${autoIncrementKey(dialect)},
      run_id TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
      step_run_id TEXT REFERENCES step_runs (id) ON DELETE CASCADE,
      stream TEXT NOT NULL,
      message TEXT NOT NULL,
      at BIGINT NOT NULL
    )`,
    `CREATE INDEX logs_run ON logs (run_id, id)`,

    `CREATE TABLE stack_components (
      id TEXT PRIMARY KEY,
      type TEXT NOT NULL,
      name TEXT NOT NULL,
      flavor TEXT NOT NULL,
      config TEXT NOT NULL,
      UNIQUE (type, name)
    )`,

    `CREATE TABLE stacks (
      name TEXT PRIMARY KEY,
      created_at BIGINT NOT NULL
    )`,

    // position keeps the components in the order the stack was saved with.
    `CREATE TABLE stack_members (
      stack_name TEXT NOT NULL REFERENCES stacks (name) ON DELETE CASCADE,
      component_id TEXT NOT NULL REFERENCES stack_components (id),
      position INTEGER NOT NULL,
      PRIMARY KEY (stack_name, component_id)
    )`,

    `CREATE TABLE settings (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    )`,
  ],
};

/**
 * The task of a step run's current attempt (configuration and resolved input references),
 * so that a step process started with nothing but a step run id can read what to run.
 */
const stepRunTasks: Migration = {
  version: 2,
  name: "step run tasks",
  up: () => [
    `CREATE TABLE step_run_tasks (
      step_run_id TEXT PRIMARY KEY REFERENCES step_runs (id) ON DELETE CASCADE,
      attempt INTEGER NOT NULL,
      task TEXT NOT NULL
    )`,
  ],
};

/**
 * Following and sharing a store: a change sequence on runs and step runs (a reader keeps
 * a cursor and asks for what changed after it), cancel requests, which artifact store
 * holds each version, and the last version number of each artifact so that the next one
 * is taken by a single statement (correct with several writers, unlike reading MAX).
 */
const changeSequence: Migration = {
  version: 3,
  name: "change sequence, cancel requests, artifact store of a version",
  up: () => [
    // One counter per store: a batch reserves its numbers with one UPDATE, which also
    // orders concurrent writers' batches (the row is locked until the batch commits).
    `CREATE TABLE sequences (
      name TEXT PRIMARY KEY,
      value BIGINT NOT NULL
    )`,
    // Rows from before this migration all get 1, so a reader starting at 0 sees them.
    `INSERT INTO sequences (name, value) VALUES ('changes', 1)`,
    `ALTER TABLE step_runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 1`,
    `ALTER TABLE pipeline_runs ADD COLUMN seq BIGINT NOT NULL DEFAULT 1`,
    `CREATE INDEX step_runs_run_seq ON step_runs (run_id, seq)`,
    `CREATE INDEX pipeline_runs_seq ON pipeline_runs (seq)`,
    `CREATE INDEX pipeline_runs_name ON pipeline_runs (name)`,
    `ALTER TABLE pipeline_runs ADD COLUMN cancel_requested_at BIGINT`,
    `ALTER TABLE artifact_versions ADD COLUMN artifact_store_id TEXT`,
    `ALTER TABLE artifacts ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 0`,
    `UPDATE artifacts SET latest_version =
      COALESCE((SELECT MAX(v.version) FROM artifact_versions v WHERE v.artifact_id = artifacts.id), 0)`,
  ],
};

/**
 * Schedules (pipelines on cron) and, on each run a schedule started, the schedule's name and
 * the tick it was planned for. Version 3 is the change-cursor/lease migration.
 */
const schedules: Migration = {
  version: 4,
  name: "schedules",
  up: () => [
    `CREATE TABLE schedules (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      pipeline_name TEXT NOT NULL,
      source TEXT NOT NULL,
      cron TEXT NOT NULL,
      timezone TEXT,
      parameters TEXT NOT NULL,
      stack_name TEXT,
      enable_cache INTEGER NOT NULL CHECK (enable_cache IN (0, 1)),
      catchup TEXT NOT NULL,
      catchup_limit INTEGER NOT NULL,
      overlap TEXT NOT NULL,
      paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
      native INTEGER NOT NULL CHECK (native IN (0, 1)),
      next_fire_at BIGINT,
      last_fired_at BIGINT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    `CREATE INDEX schedules_due ON schedules (paused, next_fire_at)`,
    `ALTER TABLE pipeline_runs ADD COLUMN schedule_name TEXT`,
    `ALTER TABLE pipeline_runs ADD COLUMN scheduled_for BIGINT`,
    `CREATE INDEX pipeline_runs_schedule ON pipeline_runs (schedule_name, created_at)`,
  ],
};

/**
 * Fewer rows and index entries per step run (issue 16: the per-step bookkeeping is the hot
 * path). Measured on the fan-out's write mix, SQLite, 10,000 steps (bench/README.md):
 * - a dynamic run's step configuration is a column of its step run, not a row of its own
 *   in step_configurations (a row cost an insert into the table and three indexes);
 *   configurations owned by a snapshot stay in step_configurations, as do older rows;
 * - an artifact is keyed by its name: `artifacts(name)` holds only the name's version
 *   counter, and a version names its artifact directly (`artifact_name`), so a new name
 *   costs one index entry instead of three, and reading a version needs no join;
 * - in SQLite the link tables are WITHOUT ROWID tables keyed by their primary key (one
 *   b-tree instead of a table plus its key index).
 * SQLite cannot change a column's constraints in place, so there the tables are rebuilt
 * and their rows copied (the store runs this with foreign-key checks off and checks the
 * keys before it commits: `rebuildsTables`).
 */
const leanStepBookkeeping: Migration = {
  version: 5,
  name: "lean step bookkeeping",
  rebuildsTables: true,
  up: (dialect) => {
    const common = [`ALTER TABLE step_runs ADD COLUMN configuration TEXT`];
    if (dialect === "postgres") {
      return [
        ...common,
        `ALTER TABLE artifact_versions ADD COLUMN artifact_name TEXT`,
        `UPDATE artifact_versions v SET artifact_name = a.name FROM artifacts a WHERE a.id = v.artifact_id`,
        `ALTER TABLE artifact_versions ALTER COLUMN artifact_name SET NOT NULL`,
        // Drops the foreign key to artifacts(id) and UNIQUE (artifact_id, version) with it.
        `ALTER TABLE artifact_versions DROP COLUMN artifact_id`,
        `ALTER TABLE artifacts DROP COLUMN id`,
        `ALTER TABLE artifacts DROP CONSTRAINT artifacts_name_key`,
        `ALTER TABLE artifacts ADD PRIMARY KEY (name)`,
        `ALTER TABLE artifact_versions ADD FOREIGN KEY (artifact_name) REFERENCES artifacts (name) ON DELETE CASCADE`,
        `ALTER TABLE artifact_versions ADD UNIQUE (artifact_name, version)`,
      ];
    }
    const versionColumns = `uri, data_type, materializer, content_hash, size, metadata, created_at, artifact_store_id`;
    return [
      ...common,
      `CREATE TABLE artifacts_v5 (
        name TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        latest_version INTEGER NOT NULL
      ) WITHOUT ROWID`,
      `INSERT INTO artifacts_v5 (name, created_at, latest_version) SELECT name, created_at, latest_version FROM artifacts`,
      `CREATE TABLE artifact_versions_v5 (
        id TEXT PRIMARY KEY,
        artifact_name TEXT NOT NULL REFERENCES artifacts (name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        uri TEXT NOT NULL,
        data_type TEXT NOT NULL,
        materializer TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        size BIGINT NOT NULL,
        metadata TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        artifact_store_id TEXT,
        UNIQUE (artifact_name, version)
      )`,
      // In rowid order: "newest first" lists break ties of created_at by rowid.
      `INSERT INTO artifact_versions_v5 (id, artifact_name, version, ${versionColumns})
       SELECT v.id, a.name, v.version, ${versionColumns.replace(/(\w+)/g, "v.$1")}
       FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id ORDER BY v.rowid`,
      `CREATE TABLE step_run_inputs_v5 (
        step_run_id TEXT NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
        artifact_version_id TEXT NOT NULL REFERENCES artifact_versions (id),
        input_name TEXT NOT NULL,
        PRIMARY KEY (step_run_id, input_name)
      ) WITHOUT ROWID`,
      `INSERT INTO step_run_inputs_v5 (step_run_id, artifact_version_id, input_name)
       SELECT step_run_id, artifact_version_id, input_name FROM step_run_inputs`,
      `CREATE TABLE step_run_outputs_v5 (
        step_run_id TEXT NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
        artifact_version_id TEXT NOT NULL REFERENCES artifact_versions (id),
        output_name TEXT NOT NULL,
        mapping_key TEXT,
        position INTEGER NOT NULL,
        PRIMARY KEY (step_run_id, output_name, position)
      ) WITHOUT ROWID`,
      `INSERT INTO step_run_outputs_v5 (step_run_id, artifact_version_id, output_name, mapping_key, position)
       SELECT step_run_id, artifact_version_id, output_name, mapping_key, position FROM step_run_outputs`,
      `DROP TABLE step_run_inputs`,
      `DROP TABLE step_run_outputs`,
      `DROP TABLE artifact_versions`,
      `DROP TABLE artifacts`,
      `ALTER TABLE artifacts_v5 RENAME TO artifacts`,
      `ALTER TABLE artifact_versions_v5 RENAME TO artifact_versions`,
      `ALTER TABLE step_run_inputs_v5 RENAME TO step_run_inputs`,
      `ALTER TABLE step_run_outputs_v5 RENAME TO step_run_outputs`,
      `CREATE INDEX step_run_inputs_artifact ON step_run_inputs (artifact_version_id)`,
      `CREATE INDEX step_run_outputs_artifact ON step_run_outputs (artifact_version_id)`,
    ];
  },
};

/** Every migration, oldest first. Versions are unique and increasing. */
export const migrations: readonly Migration[] = [initialSchema, stepRunTasks, changeSequence, schedules, leanStepBookkeeping];

/** The newest schema version this code knows. */
export const LATEST_SCHEMA_VERSION = migrations[migrations.length - 1].version;

/**
 * The migrations still to apply to a store that has `applied`. A store whose schema is
 * newer than this code is refused: the code would misread or corrupt tables it does not know.
 */
export function pendingMigrations(applied: Iterable<number>, location: string): Migration[] {
  const done = new Set(applied);
  const newest = Math.max(0, ...done);
  if (newest > LATEST_SCHEMA_VERSION) {
    throw new StoreSchemaError(
      `The metadata store ${location} has schema version ${newest}, newer than this version of weir knows ` +
        `(up to ${LATEST_SCHEMA_VERSION}): it was migrated by a newer weir. Upgrade weir ` +
        `(npm install weir@latest) in this project, or point WEIR_STORE_URL at another store.`,
    );
  }
  return migrations.filter((migration) => !done.has(migration.version));
}
