/**
 * The embedded metadata store: one SQLite file shared by every process of a weir project
 * (the engine, step child processes, the CLI).
 *
 * It sits on the per-step hot path, so every statement is prepared once and reused, writes
 * that belong together run in one transaction, and the writes of one turn of the event loop
 * are committed together (write-behind batching, see SqliteMetadataStore). better-sqlite3
 * is synchronous; the methods are `async` only because the interface also serves PostgreSQL.
 */
import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import { timeOrderedId } from "../../../ids.js";
import { LATEST_SCHEMA_VERSION, migrations, pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from "../migrations.js";
import { FRESH_SCHEMA, FRESH_SCHEMA_VERSION } from "./fresh-schema.js";
import type { VersionedStore } from "../open.js";
import { WriteBatcher, type Outcome } from "../write-batcher.js";
import { StepRunInsert } from "../sql/step-run-insert.js";
import { openDatabase, storeDeletedError, storeFileError } from "./file-errors.js";
import {
  artifactVersionRow,
  insertedArtifactVersion,
  stepConfigurationRow,
  type ArtifactVersionInsert,
  FINAL_STATUSES,
  fromJson,
  outputArtifactIds,
  newRunRecord,
  patchOf,
  completionPatch,
  RUN_PATCH_COLUMNS,
  runFilterParams,
  STEP_RUN_PATCH_COLUMNS,
  STEP_RUN_SELECT_COLUMNS,
  summarize,
  toArtifactVersionRecord,
  toComponentRecord,
  toJson,
  toLogLine,
  toRunRecord,
  toSnapshotRecord,
  toStepConfigurationRecord,
  toStepInputLink,
  toStepOutputLink,
  toStepRunRecord,
  type ArtifactVersionRow,
  type LogRow,
  type MemberRow,
  type RunRow,
  type SnapshotRow,
  type StackRow,
  type StepConfigurationRow,
  type StepCountColumns,
  type StepInputRow,
  type StepOutputRow,
  type StepRunRow,
} from "../sql/rows.js";
import { ScheduleError } from "../../../authoring/errors.js";
import { SCHEDULE_COLUMNS, SCHEDULE_PATCH_COLUMNS, scheduleInsertValues, toScheduleRecord, type ScheduleRow } from "../schedule-rows.js";
import type {
  ArtifactVersionRecord,
  ComponentRecord,
  LogLine,
  NewArtifactVersion,
  NewRun,
  NewSchedule,
  NewSnapshot,
  NewStepConfiguration,
  NewStepRun,
  RunFilter,
  RunPatch,
  RunRecord,
  RunSummary,
  SchedulePatch,
  ScheduleRecord,
  SnapshotRecord,
  StackRecord,
  StepCompletion,
  StepConfigurationRecord,
  StepInputLink,
  StepOutputLink,
  StepRunPatch,
  StepRunRecord,
  StepRunWriter,
} from "../types.js";

const ACTIVE_STACK_KEY = "active_stack";

const RUN_SELECT = `SELECT r.*, p.name AS pipeline_name FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id`;
const ARTIFACT_VERSION_SELECT = `SELECT v.* FROM artifact_versions v`;
const RUN_FILTER = `(@pipelineName IS NULL OR p.name = @pipelineName) AND (@status IS NULL OR r.status = @status)
  AND (@name IS NULL OR r.name = @name) AND (@idPrefix IS NULL OR substr(r.id, 1, length(@idPrefix)) = @idPrefix)
  AND (@scheduleName IS NULL OR r.schedule_name = @scheduleName)`;
const MEMBER_SELECT = `SELECT m.stack_name, c.id, c.type, c.name, c.flavor, c.config
  FROM stack_members m JOIN stack_components c ON c.id = m.component_id`;

/**
 * Every fixed statement, prepared once. Preparing needs the tables to exist, so this runs
 * on first use (after `migrate()` on a new file) rather than in the constructor.
 *
 * "Newest first" orders by creation time, then by rowid so that rows created within the
 * same millisecond still come back in insertion order.
 */
function prepareStatements(db: Database.Database) {
  return lazily({
    // Get-or-create in one statement: the no-op update makes RETURNING give the existing row's id.
    pipelineId: () => db
      .prepare(
        `INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`,
      )
      .pluck(),

    insertSnapshot: () => db.prepare(
      `INSERT INTO pipeline_snapshots (id, pipeline_id, is_dynamic, parameters, source, spec, created_at)
       VALUES (@id, @pipelineId, @isDynamic, @parameters, @source, @spec, @createdAt)`,
    ),
    getSnapshot: () => db.prepare(
      `SELECT s.*, p.name AS pipeline_name FROM pipeline_snapshots s JOIN pipelines p ON p.id = s.pipeline_id
       WHERE s.id = ?`,
    ),

    insertStepConfiguration: () => db.prepare(
      `INSERT INTO step_configurations (id, snapshot_id, step_run_id, invocation_id, step_name, config)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    stepConfigurationsBySnapshot: () => db.prepare(
      `SELECT * FROM step_configurations WHERE snapshot_id = ? ORDER BY invocation_id, id`,
    ),
    // A dynamic run's step configuration is a column of its step run (schema 5); older ones are rows.
    stepConfigurationsByStepRun: () => db.prepare(
      `SELECT id AS id, NULL AS snapshot_id, id AS step_run_id, invocation_id, step_name, configuration AS config
         FROM step_runs WHERE id = @id AND configuration IS NOT NULL
       UNION ALL
       SELECT id, snapshot_id, step_run_id, invocation_id, step_name, config FROM step_configurations WHERE step_run_id = @id
       ORDER BY invocation_id, id`,
    ),

    insertRun: () => db.prepare(
      `INSERT INTO pipeline_runs (id, name, pipeline_id, snapshot_id, stack_name, is_dynamic, status,
         orchestrator_run_id, created_at, started_at, ended_at, error, output, enable_cache, fingerprint,
         heartbeat_at, owner, cancel_requested_at, seq, schedule_name, scheduled_for)
       VALUES (@id, @name, @pipelineId, @snapshotId, @stackName, @isDynamic, @status,
         NULL, @createdAt, @startedAt, NULL, NULL, 'null', @enableCache, NULL, @heartbeatAt, @owner, NULL, @seq, @scheduleName, @scheduledFor)`,
    ),
    getRun: () => db.prepare(`${RUN_SELECT} WHERE r.id = ?`),
    listRuns: () => db.prepare(`${RUN_SELECT} WHERE ${RUN_FILTER} ORDER BY r.created_at DESC, r.rowid DESC LIMIT @limit OFFSET @offset`),
    // The filtered page of runs, then each one's step counts by status: one row per (run, status).
    listRunSummaries: () => db.prepare(
      `WITH page AS (
         ${RUN_SELECT.replace("SELECT r.*", "SELECT r.*, r.rowid AS row_order")}
         WHERE ${RUN_FILTER} ORDER BY r.created_at DESC, r.rowid DESC LIMIT @limit OFFSET @offset)
       SELECT page.*, c.status AS step_status, c.n AS step_count FROM page
       LEFT JOIN (SELECT run_id, status, COUNT(*) AS n FROM step_runs
                  WHERE run_id IN (SELECT id FROM page) GROUP BY run_id, status) c ON c.run_id = page.id
       ORDER BY page.created_at DESC, page.row_order DESC`,
    ),
    findRuns: () => db.prepare(
      `${RUN_SELECT}
       WHERE (@name IS NULL OR r.name = @name) AND (@idPrefix IS NULL OR substr(r.id, 1, length(@idPrefix)) = @idPrefix)
         AND (@idSuffix IS NULL OR substr(r.id, -length(@idSuffix)) = @idSuffix)
       ORDER BY r.created_at DESC, r.rowid DESC`,
    ),
    claimRun: () => db.prepare(
      `UPDATE pipeline_runs SET owner = @owner, heartbeat_at = @now, seq = @seq
       WHERE id = @runId AND (owner IS NULL OR owner = @owner OR heartbeat_at IS NULL OR heartbeat_at < @staleBefore)`,
    ),
    runExists: () => db.prepare(`SELECT 1 FROM pipeline_runs WHERE id = ?`).pluck(),
    // Deleting a run: the versions its step runs link (or its output names) that nothing else links.
    runArtifactVersions: () => db.prepare(
      `SELECT artifact_version_id FROM step_run_outputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = @runId)
       UNION SELECT artifact_version_id FROM step_run_inputs WHERE step_run_id IN (SELECT id FROM step_runs WHERE run_id = @runId)`,
    ).pluck(),
    deleteRun: () => db.prepare(`DELETE FROM pipeline_runs WHERE id = ?`),
    deleteUnusedSnapshot: () => db.prepare(
      `DELETE FROM pipeline_snapshots WHERE id = ? AND NOT EXISTS (SELECT 1 FROM pipeline_runs WHERE snapshot_id = ?)`,
    ),
    deleteUnlinkedVersion: () => db.prepare(
      `DELETE FROM artifact_versions WHERE id = ?
         AND NOT EXISTS (SELECT 1 FROM step_run_outputs WHERE artifact_version_id = ?)
         AND NOT EXISTS (SELECT 1 FROM step_run_inputs WHERE artifact_version_id = ?)
       RETURNING uri, artifact_store_id`,
    ),

    insertStepRun: () => db.prepare(
      // Positional: binding by name costs a property lookup per column, a few µs per row at fan-out rates.
      // Every column is given: a step run created and finished in one batch is inserted in its final state.
      `INSERT INTO step_runs (id, run_id, invocation_id, step_name, status, attempt, mapping_key, cache_key,
         original_step_run_id, position, upstream, parameters, created_at, started_at, ended_at, error, metadata, seq,
         configuration)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getStepRun: () => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE id = ?`),
    stepRunExists: () => db.prepare(`SELECT 1 FROM step_runs WHERE id = ?`).pluck(),
    // One statement, so that the guard holds against another writer: completed and cached
    // step runs are never reset (their outputs may be in use).
    resetStepRun: () => db.prepare(
      `UPDATE step_runs SET status = 'pending', error = NULL, ended_at = NULL, seq = ?
       WHERE id = ? AND status NOT IN ('completed', 'cached') RETURNING id`,
    ).pluck(),
    stepRunStatus: () => db.prepare(`SELECT status FROM step_runs WHERE id = ?`).pluck(),
    deleteStepOutputs: () => db.prepare(`DELETE FROM step_run_outputs WHERE step_run_id = ?`),
    findStepRun: () => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? AND invocation_id = ?`),
    listStepRuns: () => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? ORDER BY position, rowid`),
    listStepRunChanges: () => db.prepare(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
    findCachedStepRun: () => db.prepare(
      `SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE cache_key = ? AND status = 'completed'
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    ),

    // Registers the name on first sight and takes its next version number, in one statement
    // (no read-then-write that two writers could interleave).
    nextArtifactVersion: () => db
      .prepare(
        `INSERT INTO artifacts (name, created_at, latest_version) VALUES (?, ?, 1)
         ON CONFLICT (name) DO UPDATE SET latest_version = latest_version + 1
         RETURNING latest_version`,
      )
      .pluck(),
    insertArtifactVersion: () => db.prepare(
      `INSERT INTO artifact_versions (id, artifact_name, version, uri, data_type, materializer, content_hash, size,
         metadata, created_at, artifact_store_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    artifactVersionByName: () => db.prepare(
      `${ARTIFACT_VERSION_SELECT} WHERE v.artifact_name = @name AND (@version IS NULL OR v.version = @version)
       ORDER BY v.version DESC LIMIT 1`,
    ),
    getArtifactVersion: () => db.prepare(`${ARTIFACT_VERSION_SELECT} WHERE v.id = ?`),
    listArtifactVersions: () => db.prepare(
      `${ARTIFACT_VERSION_SELECT} WHERE (@artifactName IS NULL OR v.artifact_name = @artifactName)
       ORDER BY v.created_at DESC, v.rowid DESC LIMIT @limit`,
    ),

    // A resumed step run records its inputs again: the newest link for an input name wins.
    insertStepInput: () => db.prepare(
      `INSERT INTO step_run_inputs (step_run_id, artifact_version_id, input_name)
       VALUES (?, ?, ?)
       ON CONFLICT (step_run_id, input_name) DO UPDATE SET artifact_version_id = excluded.artifact_version_id`,
    ),
    listStepInputs: () => db.prepare(`SELECT * FROM step_run_inputs WHERE step_run_id = ? ORDER BY input_name`),
    insertStepOutput: () => db.prepare(
      `INSERT INTO step_run_outputs (step_run_id, artifact_version_id, output_name, mapping_key, position)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    listStepOutputs: () => db.prepare(
      `SELECT * FROM step_run_outputs WHERE step_run_id = ? ORDER BY position, output_name`,
    ),

    saveStepTask: () => db.prepare(
      `INSERT INTO step_run_tasks (step_run_id, attempt, task) VALUES (?, ?, ?)
       ON CONFLICT (step_run_id) DO UPDATE SET attempt = excluded.attempt, task = excluded.task`,
    ),
    getStepTask: () => db.prepare(`SELECT attempt, task FROM step_run_tasks WHERE step_run_id = ?`),
    insertLog: () => db.prepare(
      `INSERT INTO logs (run_id, step_run_id, stream, message, at) VALUES (@runId, @stepRunId, @stream, @message, @at)`,
    ),
    listLogs: () => db.prepare(
      `SELECT * FROM logs
       WHERE run_id = @runId AND id > @afterId AND (@stepRunId IS NULL OR step_run_id = @stepRunId)
       ORDER BY id`,
    ),

    insertStack: () => db.prepare(`INSERT INTO stacks (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
    getStack: () => db.prepare(`SELECT * FROM stacks WHERE name = ?`),
    listStacks: () => db.prepare(`SELECT * FROM stacks ORDER BY name`),
    deleteStackMembers: () => db.prepare(`DELETE FROM stack_members WHERE stack_name = ?`),
    deleteStack: () => db.prepare(`DELETE FROM stacks WHERE name = ?`),
    upsertComponent: () => db
      .prepare(
        `INSERT INTO stack_components (id, type, name, flavor, config) VALUES (@id, @type, @name, @flavor, @config)
         ON CONFLICT (type, name) DO UPDATE SET flavor = excluded.flavor, config = excluded.config
         RETURNING id`,
      )
      .pluck(),
    insertStackMember: () => db.prepare(`INSERT INTO stack_members (stack_name, component_id, position) VALUES (?, ?, ?)`),
    stackMembers: () => db.prepare(`${MEMBER_SELECT} WHERE m.stack_name = ? ORDER BY m.position`),
    allStackMembers: () => db.prepare(`${MEMBER_SELECT} ORDER BY m.stack_name, m.position`),
    getComponent: () => db.prepare(`SELECT * FROM stack_components WHERE id = ?`),
    listComponents: () => db.prepare(`SELECT * FROM stack_components ORDER BY type, name`),

    readSeq: () => db.prepare(`SELECT value FROM sequences WHERE name = 'changes'`).pluck(),
    writeSeq: () => db.prepare(`UPDATE sequences SET value = ? WHERE name = 'changes'`),

    getSetting: () => db.prepare(`SELECT value FROM settings WHERE key = ?`).pluck(),
    putSetting: () => db.prepare(
      `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),
  });
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * An object whose properties are made on first read (then kept): a store prepares only the
 * statements it uses. A short-lived store (the CLI, a test, a cold `weir run`) uses a dozen
 * of the sixty, and preparing one costs ~0.2–1 ms here.
 */
function lazily<T extends Record<string, () => unknown>>(makers: T): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const made = {} as Record<string, unknown>;
  for (const [key, make] of Object.entries(makers)) {
    Object.defineProperty(made, key, {
      configurable: true,
      enumerable: true,
      get() {
        const value = make();
        Object.defineProperty(made, key, { value, enumerable: true });
        return value;
      },
    });
  }
  return made as { readonly [K in keyof T]: ReturnType<T[K]> };
}

/** A queued write: the statements to run, already holding their values (`work` is called as a method). */
interface SqliteWrite {
  work(): unknown;
  /**
   * The work may run more than one statement, so undoing it on failure needs a SAVEPOINT.
   * A write of one statement needs none: SQLite undoes a failed statement by itself and
   * keeps the transaction going.
   */
  multiStatement: boolean;
}

/** The outcomes of most writes (nothing, true, false), shared: a batch of 4,096 writes makes no object for them. */
const OK_NOTHING: Outcome = { ok: true, value: undefined };
const OK_TRUE: Outcome = { ok: true, value: true };
const OK_FALSE: Outcome = { ok: true, value: false };

function succeeded(value: unknown): Outcome {
  if (value === undefined) return OK_NOTHING;
  if (value === true) return OK_TRUE;
  if (value === false) return OK_FALSE;
  return { ok: true, value };
}

/** Thrown inside a batch to roll it back and run it again with savepoints. */
const RETRY_WITH_SAVEPOINTS = Symbol("retry the batch with savepoints");

/**
 * Most writes one transaction holds. It bounds the memory the queue holds, how much the
 * WAL grows before a checkpoint can run, and how much work a batch-level failure (disk
 * full, lock timeout) rejects at once.
 */
const MAX_BATCH = 4096;

/** Stores with writes not yet committed when the process exits normally commit them first. */
const openStores = new Set<SqliteMetadataStore>();
let exitHookInstalled = false;

function flushOpenStores(): void {
  for (const store of openStores) {
    try {
      store.flush();
    } catch {
      // Exiting anyway: each write's own promise carries its error.
    }
  }
}

/**
 * Writes go through a WriteBatcher (see write-batcher.ts for the guarantees): each write
 * method prepares its rows at once (so later changes to the caller's objects don't leak
 * in) and queues the statements; one flush per turn of the event loop commits every
 * queued write in one IMMEDIATE transaction, so a step's three writes cost a few
 * statements instead of three commits. better-sqlite3 is synchronous, so a read commits
 * what is queued before it runs (`reader`).
 */
export class SqliteMetadataStore implements VersionedStore {
  readonly dialect = "sqlite";
  readonly path: string;
  private readonly db: Database.Database;
  private prepared: Statements | undefined;
  /** Patch updates touch a varying set of columns: one statement per set, prepared on first use. */
  private readonly updateStatements = new Map<string, Database.Statement>();
  private readonly transaction: Database.Transaction<(work: () => unknown) => unknown>;
  private readonly batchTransaction: Database.Transaction<(batch: readonly SqliteWrite[], savepoints: boolean) => Outcome[]>;
  private readonly batcher: WriteBatcher<SqliteWrite>;
  /** Step runs whose INSERT waits in the batch: later writes about them change the row instead (StepRunInsert). */
  private readonly staged = new Map<string, StepRunInsert>();
  /** The last change sequence number taken in the batch being committed (read from the file on first use). */
  private seqCursor: number | undefined;

  constructor(options: { path: string }) {
    this.path = options.path;
    this.db = openDatabase(options.path);
    this.transaction = this.db.transaction((work: () => unknown) => work());
    this.batchTransaction = this.db.transaction((batch: readonly SqliteWrite[], savepoints: boolean) => {
      this.seqCursor = undefined;
      const outcomes = batch.map((write): Outcome => {
        try {
          // Nested in the batch's transaction, better-sqlite3 runs the work in a SAVEPOINT
          // and rolls back to it if the work throws.
          return succeeded(savepoints && write.multiStatement ? this.transaction(() => write.work()) : write.work());
        } catch (error) {
          // A few errors (I/O, disk full) make SQLite roll back the whole transaction: then
          // nothing of the batch was written, and every write of it fails.
          if (!this.db.inTransaction) throw error;
          // A multi-statement write may have half happened: start over, this time with savepoints.
          if (!savepoints && write.multiStatement) throw RETRY_WITH_SAVEPOINTS;
          return { ok: false, error: this.explain(error) };
        }
      });
      if (this.seqCursor !== undefined) this.sql.writeSeq.run(this.seqCursor);
      return outcomes;
    });
    this.batcher = new WriteBatcher<SqliteWrite>({ apply: (batch) => this.commit(batch) }, { maxBatch: MAX_BATCH });
    openStores.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", flushOpenStores);
    }
  }

  private get sql(): Statements {
    return (this.prepared ??= prepareStatements(this.db));
  }

  /**
   * Runs `work` in a write transaction now. IMMEDIATE takes the write lock up front, so a
   * transaction that reads before it writes waits (busy_timeout) for another process's
   * writer instead of failing with SQLITE_BUSY when it tries to upgrade its read.
   */
  private write<T>(work: () => T): T {
    this.flush();
    try {
      return this.transaction.immediate(work) as T;
    } catch (error) {
      throw this.explain(error);
    }
  }

  /**
   * Queues `work` for the next batch; resolves with its result once that batch committed.
   * `statements` is how many statements the work may run (1: no savepoint needed).
   */
  private enqueue<T>(work: () => T, statements = 2): Promise<T> {
    return this.batcher.enqueue<T>({ work, multiStatement: statements > 1 });
  }

  /**
   * Commits every pending write now, synchronously (reads, `close()` and process exit call
   * it). Callers' promises settle afterwards, as usual for promises.
   */
  flush(): void {
    this.batcher.flushSync();
  }

  /**
   * Commits one batch. Writes rarely fail, so the batch first runs without savepoints (each
   * costs two statements); if a multi-statement write fails, the transaction is rolled back
   * and the batch runs again with a savepoint around each such write. The works only hold
   * prepared values, so running one again does the same thing.
   */
  private commit(batch: readonly SqliteWrite[]): Outcome[] {
    // SQLite keeps writing to a file deleted while open (the open handle keeps it alive), and
    // every write would be lost when the process ends: one stat per batch catches it.
    if (this.path !== ":memory:" && !existsSync(this.path)) throw storeDeletedError(this.path);
    try {
      try {
        return this.batchTransaction.immediate(batch, false);
      } catch (error) {
        if (error !== RETRY_WITH_SAVEPOINTS) throw error;
        return this.batchTransaction.immediate(batch, true);
      }
    } catch (error) {
      // BEGIN, COMMIT or the transaction as a whole failed: nothing of the batch is on record.
      throw this.explain(error);
    }
  }

  /** Errors of the file itself (corrupt, read-only, deleted) name the file and what to do. */
  private explain(error: unknown): unknown {
    return storeFileError(this.path, error) ?? error;
  }

  /**
   * The next change sequence number, inside a batch's transaction. The batch holds the
   * write lock, so numbers taken by different processes never collide, and the counter
   * is written back once per batch.
   */
  private nextSeq(): number {
    this.seqCursor ??= this.sql.readSeq.get() as number;
    return ++this.seqCursor;
  }

  /** Reads start here: they must see every write made before them. */
  private get reader(): Statements {
    if (this.batcher.size > 0) this.flush();
    return this.sql;
  }

  get location(): string {
    return this.path;
  }

  async migrate(): Promise<void> {
    this.flush();
    // A migration that rebuilds tables runs with foreign-key enforcement off (SQLite's
    // procedure for table changes: dropping the old table must not cascade into its
    // children), and checks every key before it commits. The pragma only changes outside a
    // transaction, so which migrations are pending is read first.
    const rebuilds = this.pendingMigrationList().some((migration) => migration.rebuildsTables);
    if (rebuilds) this.db.pragma("foreign_keys = OFF");
    try {
      this.write(() => {
        const record = this.db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`);
        const pending = this.pendingMigrationList();
        // A new database gets the schema all migrations leave in one go (fresh-schema.ts).
        const fresh = pending.length === migrations.length && FRESH_SCHEMA_VERSION === LATEST_SCHEMA_VERSION;
        if (fresh) this.db.exec(FRESH_SCHEMA.join(";\n"));
        for (const migration of pending) {
          if (!fresh) for (const statement of migration.up("sqlite")) this.db.exec(statement);
          record.run(migration.version, migration.name, Date.now());
        }
        const broken = this.db.pragma("foreign_key_check") as { table: string; parent: string }[];
        if (broken.length > 0) {
          throw new Error(`migration left ${broken.length} rows whose keys name no row (first: ${broken[0].table} → ${broken[0].parent})`);
        }
      });
    } finally {
      if (rebuilds) this.db.pragma("foreign_keys = ON");
    }
  }

  /** The migrations this file still needs (creating the bookkeeping table if it is new). */
  private pendingMigrationList() {
    let applied: number[];
    try {
      this.db.exec(SCHEMA_MIGRATIONS_TABLE);
      applied = this.db.prepare(`SELECT version FROM schema_migrations`).pluck().all() as number[];
    } catch (error) {
      throw this.explain(error);
    }
    return pendingMigrations(applied, this.path);
  }

  async schemaVersion(): Promise<number> {
    const table = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`);
    if (!table.get()) return 0;
    return (this.db.prepare(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).pluck().get() as number) ?? 0;
  }

  async close(): Promise<void> {
    try {
      await this.batcher.close();
    } finally {
      openStores.delete(this);
      this.db.close();
    }
  }

  // Snapshots and step configurations

  async createSnapshot(snapshot: NewSnapshot): Promise<SnapshotRecord> {
    const createdAt = Date.now();
    const row = {
      id: timeOrderedId(),
      isDynamic: snapshot.isDynamic ? 1 : 0,
      parameters: toJson(snapshot.parameters),
      source: toJson(snapshot.source),
      spec: toJson(snapshot.spec),
      createdAt,
    };
    return this.enqueue((): SnapshotRecord => {
      const pipelineId = this.sql.pipelineId.get(timeOrderedId(), snapshot.pipelineName, createdAt) as string;
      this.sql.insertSnapshot.run({ ...row, pipelineId });
      return {
        id: row.id,
        pipelineId,
        pipelineName: snapshot.pipelineName,
        isDynamic: snapshot.isDynamic,
        parameters: snapshot.parameters,
        source: snapshot.source,
        spec: snapshot.spec,
        createdAt,
      };
    });
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    const row = this.reader.getSnapshot.get(id) as SnapshotRow | undefined;
    return row && toSnapshotRecord(row);
  }

  async createStepConfigurations(configs: NewStepConfiguration[]): Promise<void> {
    // The owner check (exactly one of snapshot / step run) is left to the table's CHECK.
    const rows = configs.map(stepConfigurationRow);
    await this.enqueue(() => {
      for (const row of rows) this.insertConfiguration(row);
    }, rows.length);
  }

  async listStepConfigurations(
    owner: { snapshotId: string } | { stepRunId: string },
  ): Promise<StepConfigurationRecord[]> {
    const sql = this.reader;
    const rows =
      "snapshotId" in owner
        ? sql.stepConfigurationsBySnapshot.all(owner.snapshotId)
        : sql.stepConfigurationsByStepRun.all({ id: owner.stepRunId });
    return (rows as StepConfigurationRow[]).map(toStepConfigurationRecord);
  }

  // Runs

  async createRun(run: NewRun): Promise<RunRecord> {
    const record = newRunRecord(run, run.id ?? timeOrderedId());
    const { createdAt } = record;
    const row = { ...record, isDynamic: record.isDynamic ? 1 : 0, enableCache: record.enableCache ? 1 : 0 };
    return this.enqueue((): RunRecord => {
      record.seq = this.nextSeq();
      const pipelineId = this.sql.pipelineId.get(timeOrderedId(), run.pipelineName, createdAt) as string;
      this.sql.insertRun.run({ ...row, seq: record.seq, pipelineId });
      return record;
    });
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const update = this.prepareUpdate("pipeline_runs", RUN_PATCH_COLUMNS, id, patch);
    if (update) await this.enqueue(update, 1);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.reader.getRun.get(id) as RunRow | undefined;
    return row && toRunRecord(row);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return (this.reader.listRuns.all(runFilterParams(filter)) as RunRow[]).map(toRunRecord);
  }

  async listRunSummaries(filter: RunFilter = {}): Promise<RunSummary[]> {
    const rows = this.reader.listRunSummaries.all(runFilterParams(filter)) as (RunRow & StepCountColumns)[];
    return summarize(rows, toRunRecord);
  }

  async findRuns(query: { name?: string; idPrefix?: string; idSuffix?: string }): Promise<RunRecord[]> {
    const rows = this.reader.findRuns.all({
      name: query.name ?? null,
      idPrefix: query.idPrefix ?? null,
      idSuffix: query.idSuffix ?? null,
    }) as RunRow[];
    return rows.map(toRunRecord);
  }

  async claimRun(runId: string, owner: string, staleBeforeMs: number): Promise<boolean> {
    const now = Date.now();
    return this.enqueue((): boolean => {
      const params = { runId, owner, now, staleBefore: staleBeforeMs, seq: this.nextSeq() };
      if (this.sql.claimRun.run(params).changes === 1) return true;
      if (!this.sql.runExists.get(runId)) throw new Error(`claimRun: unknown run ${runId}`);
      return false;
    }, 1);
  }

  async deleteRun(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }> {
    return this.enqueue(() => {
      const run = this.sql.getRun.get(runId) as RunRow | undefined;
      if (!run) throw new Error(`deleteRun: unknown run ${runId}`);
      const candidates = new Set(this.sql.runArtifactVersions.all({ runId }) as string[]);
      for (const id of outputArtifactIds(fromJson(run.output))) candidates.add(id);
      // Step runs, their links, configurations and tasks, and the run's logs go with the run (ON DELETE CASCADE).
      this.sql.deleteRun.run(runId);
      this.sql.deleteUnusedSnapshot.run(run.snapshot_id, run.snapshot_id);
      const artifactUris: { uri: string; artifactStoreId: string | null }[] = [];
      for (const id of candidates) {
        const deleted = this.sql.deleteUnlinkedVersion.get(id, id, id) as
          | { uri: string; artifact_store_id: string | null }
          | undefined;
        if (deleted) artifactUris.push({ uri: deleted.uri, artifactStoreId: deleted.artifact_store_id });
      }
      return { artifactUris };
    });
  }

  // Step runs

  async createStepRun(stepRun: NewStepRun): Promise<StepRunRecord> {
    const insert = this.stageStepRun(stepRun);
    // The record as created (later writes of the same batch change the row, not this copy).
    const record = { ...insert.record };
    return this.enqueue((): StepRunRecord => {
      this.insertStepRun(insert);
      record.seq = insert.record.seq;
      return record;
    }, 1);
  }

  async updateStepRun(id: string, patch: StepRunPatch): Promise<void> {
    const staged = this.staged.get(id);
    if (staged) {
      staged.patch(patch);
      return this.enqueue(() => this.checkInserted(staged), 1);
    }
    const update = this.prepareUpdate("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
    if (update) await this.enqueue(update, 1);
  }

  async completeStepRun(completion: StepCompletion): Promise<boolean> {
    return this.batcher.enqueue<boolean>(this.completionWrite(completion));
  }

  /**
   * The run engine's writes of its step runs, the same as createStepRun, updateStepRun and
   * completeStepRun but without a promise each (see `StepRunWriter`).
   */
  stepRunWriter(failed: (error: unknown) => void): StepRunWriter {
    const ignore = () => undefined;
    return {
      create: (stepRun) => this.batcher.enqueueWith(new CreateStepRun(this, this.stageStepRun(stepRun)), ignore, failed),
      update: (id, patch) => {
        const staged = this.staged.get(id);
        if (staged) {
          staged.patch(patch);
          return;
        }
        const update = this.prepareUpdate("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
        if (update) this.batcher.enqueueWith({ work: update, multiStatement: false }, ignore, failed);
      },
      complete: (completion, ignored) => {
        const write = this.completionWrite(completion);
        this.batcher.enqueueWith(write, (applied) => applied === false && ignored(), failed);
      },
      settled: () => this.batcher.barrier(),
    };
  }

  /** A new step run row, open to the writes about it that follow in the same batch. */
  private stageStepRun(stepRun: NewStepRun): StepRunInsert {
    const insert = new StepRunInsert(stepRun);
    this.staged.set(insert.id, insert);
    return insert;
  }

  /** @internal CreateStepRun's work. */
  insertStepRun(insert: StepRunInsert): void {
    // From here on, writes about the step run are statements of their own.
    if (this.staged.get(insert.id) === insert) this.staged.delete(insert.id);
    this.sql.insertStepRun.run(insert.values(this.nextSeq()));
    insert.inserted = true;
  }

  /** A write merged into a staged row fails as an UPDATE of a missing row would when its INSERT failed. */
  private checkInserted(staged: StepRunInsert): void {
    if (!staged.inserted) throw new Error(`step_runs: no row with id ${staged.id}`);
  }

  /**
   * A completion as a queued write: the fenced step-run update (or the change of the staged
   * row, decided now, as its UPDATE would be decided in its place in the batch), its new
   * versions and its output links.
   */
  private completionWrite(completion: StepCompletion): CompletionWrite {
    const staged = this.staged.get(completion.stepRunId);
    const applied = staged ? staged.complete(completion) : undefined;
    const update = staged
      ? undefined
      : this.prepareUpdate("step_runs", STEP_RUN_PATCH_COLUMNS, completion.stepRunId, completionPatch(completion), completion.attempt);
    const artifacts = completion.newArtifacts.map((artifact) => artifactVersionRow(artifact, artifact.id ?? timeOrderedId()));
    return new CompletionWrite(this, completion.stepRunId, completion.outputs, artifacts, staged, applied, update);
  }

  /** @internal CompletionWrite's work. */
  applyCompletion(write: CompletionWrite): boolean {
    const { staged } = write;
    if (staged) {
      this.checkInserted(staged);
      if (!write.applied) return false;
    } else if (write.update && !write.update()) {
      return false;
    }
    for (const artifact of write.artifacts) this.insertVersionRow(artifact);
    for (const o of write.outputs) this.sql.insertStepOutput.run(write.stepRunId, o.artifactVersionId, o.outputName, o.mappingKey, o.position);
    return true;
  }

  /**
   * With an artifact, the new version's id is `artifact.id` or `link.artifactVersionId`
   * (whichever is set; if both are, they must agree), else a fresh UUID, and the link
   * points at it. Without one, the link names an existing version.
   */
  async addStepOutput(artifact: NewArtifactVersion | null, link: StepOutputLink): Promise<ArtifactVersionRecord> {
    if (artifact?.id && link.artifactVersionId && artifact.id !== link.artifactVersionId) {
      throw new Error(
        `addStepOutput: artifact id ${artifact.id} and link artifactVersionId ${link.artifactVersionId} differ`,
      );
    }
    const row = artifact && artifactVersionRow(artifact, artifact.id || link.artifactVersionId || timeOrderedId());
    const output = {
      stepRunId: link.stepRunId,
      artifactVersionId: row ? row.id : link.artifactVersionId,
      outputName: link.outputName,
      mappingKey: link.mappingKey,
      position: link.position,
    };
    return this.enqueue((): ArtifactVersionRecord => {
      let version: ArtifactVersionRecord;
      if (row) {
        version = this.insertArtifactVersion(row);
      } else {
        const existing = this.sql.getArtifactVersion.get(output.artifactVersionId) as ArtifactVersionRow | undefined;
        if (!existing) throw new Error(`addStepOutput: unknown artifact version ${output.artifactVersionId}`);
        version = toArtifactVersionRecord(existing);
      }
      this.insertOutput(output);
      return version;
    });
  }

  /** Refuses completed and cached step runs: resetting would drop outputs other steps may use. */
  async resetStepRun(id: string): Promise<void> {
    // Writes after this one are statements of their own, applied after the reset.
    this.staged.delete(id);
    await this.enqueue(() => {
      if (this.sql.resetStepRun.get(this.nextSeq(), id) === undefined) {
        const status = this.sql.stepRunStatus.get(id) as StepRunRecord["status"] | undefined;
        throw new Error(status === undefined ? `resetStepRun: unknown step run ${id}` : `resetStepRun: step run ${id} is ${status}`);
      }
      this.sql.deleteStepOutputs.run(id);
    });
  }

  async getStepRun(id: string): Promise<StepRunRecord | undefined> {
    const row = this.reader.getStepRun.get(id) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  async findStepRun(runId: string, invocationId: string): Promise<StepRunRecord | undefined> {
    const row = this.reader.findStepRun.get(runId, invocationId) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  async listStepRuns(runId: string): Promise<StepRunRecord[]> {
    return (this.reader.listStepRuns.all(runId) as StepRunRow[]).map(toStepRunRecord);
  }

  async listStepRunChanges(
    runId: string,
    afterSeq: number,
    limit = -1,
  ): Promise<{ stepRuns: StepRunRecord[]; seq: number }> {
    const stepRuns = (this.reader.listStepRunChanges.all(runId, afterSeq, limit) as StepRunRow[]).map(toStepRunRecord);
    return { stepRuns, seq: stepRuns.length > 0 ? stepRuns[stepRuns.length - 1].seq : afterSeq };
  }

  async findCachedStepRun(cacheKey: string): Promise<StepRunRecord | undefined> {
    const row = this.reader.findCachedStepRun.get(cacheKey) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  // Artifacts and lineage

  async createArtifactVersion(artifact: NewArtifactVersion): Promise<ArtifactVersionRecord> {
    const row = artifactVersionRow(artifact, artifact.id ?? timeOrderedId());
    return this.enqueue(() => this.insertArtifactVersion(row));
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord | undefined> {
    const row = this.reader.getArtifactVersion.get(id) as ArtifactVersionRow | undefined;
    return row && toArtifactVersionRecord(row);
  }

  async getArtifactVersionByName(artifactName: string, version?: number): Promise<ArtifactVersionRecord | undefined> {
    const row = this.reader.artifactVersionByName.get({ name: artifactName, version: version ?? null }) as
      | ArtifactVersionRow
      | undefined;
    return row && toArtifactVersionRecord(row);
  }

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    const rows = this.reader.listArtifactVersions.all({
      artifactName: filter.artifactName ?? null,
      limit: filter.limit ?? -1,
    }) as ArtifactVersionRow[];
    return rows.map(toArtifactVersionRecord);
  }

  async addStepInputs(links: StepInputLink[]): Promise<void> {
    if (links.length === 0) return;
    // The values are taken now: the caller may change its objects before the batch commits.
    const rows = links.map((link) => [link.stepRunId, link.artifactVersionId, link.inputName] as const);
    await this.enqueue(() => {
      for (const row of rows) this.sql.insertStepInput.run(...row);
    }, rows.length);
  }

  async listStepInputs(stepRunId: string): Promise<StepInputLink[]> {
    return (this.reader.listStepInputs.all(stepRunId) as StepInputRow[]).map(toStepInputLink);
  }

  async listStepOutputs(stepRunId: string): Promise<StepOutputLink[]> {
    return (this.reader.listStepOutputs.all(stepRunId) as StepOutputRow[]).map(toStepOutputLink);
  }

  // Logs

  async saveStepTask(stepRunId: string, attempt: number, task: unknown): Promise<void> {
    const json = toJson(task);
    await this.enqueue(() => this.sql.saveStepTask.run(stepRunId, attempt, json), 1);
  }

  async getStepTask(stepRunId: string): Promise<{ attempt: number; task: unknown } | undefined> {
    const row = this.reader.getStepTask.get(stepRunId) as { attempt: number; task: string } | undefined;
    return row && { attempt: row.attempt, task: fromJson(row.task) };
  }

  async appendLogs(lines: LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    const rows = lines.map((line) => ({
      runId: line.runId,
      stepRunId: line.stepRunId,
      stream: line.stream,
      message: line.message,
      at: line.at,
    }));
    await this.enqueue(() => {
      for (const row of rows) this.sql.insertLog.run(row);
    }, rows.length);
  }

  async listLogs(runId: string, options: { stepRunId?: string; afterId?: number } = {}): Promise<LogLine[]> {
    const rows = this.reader.listLogs.all({
      runId,
      stepRunId: options.stepRunId ?? null,
      afterId: options.afterId ?? 0,
    }) as LogRow[];
    return rows.map(toLogLine);
  }

  // Stacks

  /** Replaces the stack's member list; a stack saved again keeps its original `createdAt`. */
  async saveStack(stack: { name: string; components: Omit<ComponentRecord, "id">[] }): Promise<StackRecord> {
    const name = stack.name;
    const createdAt = Date.now();
    const components = stack.components.map((component) => ({
      type: component.type,
      name: component.name,
      flavor: component.flavor,
      config: toJson(component.config),
    }));
    return this.enqueue((): StackRecord => {
      this.sql.insertStack.run(name, createdAt);
      this.sql.deleteStackMembers.run(name);
      components.forEach((component, position) => {
        const componentId = this.sql.upsertComponent.get({ ...component, id: timeOrderedId() }) as string;
        this.sql.insertStackMember.run(name, componentId, position);
      });
      return this.readStack(name)!;
    });
  }

  async getStack(name: string): Promise<StackRecord | undefined> {
    return this.readStack(name, this.reader);
  }

  async listStacks(): Promise<StackRecord[]> {
    const sql = this.reader;
    const components = new Map<string, ComponentRecord[]>();
    for (const row of sql.allStackMembers.all() as MemberRow[]) {
      let list = components.get(row.stack_name);
      if (!list) components.set(row.stack_name, (list = []));
      list.push(toComponentRecord(row));
    }
    return (sql.listStacks.all() as StackRow[]).map((row) => ({
      name: row.name,
      components: components.get(row.name) ?? [],
      createdAt: row.created_at,
    }));
  }

  async deleteStack(name: string): Promise<boolean> {
    return this.enqueue(() => {
      this.sql.deleteStackMembers.run(name);
      // Component rows stay: runs and artifact versions keep referring to them.
      return this.sql.deleteStack.run(name).changes > 0;
    });
  }

  async getComponent(id: string): Promise<ComponentRecord | undefined> {
    const row = this.reader.getComponent.get(id) as MemberRow | undefined;
    return row && toComponentRecord(row);
  }

  async listComponents(): Promise<ComponentRecord[]> {
    return (this.reader.listComponents.all() as MemberRow[]).map(toComponentRecord);
  }

  async setActiveStack(name: string): Promise<void> {
    await this.enqueue(() => {
      if (!this.sql.getStack.get(name)) throw new Error(`setActiveStack: unknown stack ${name}`);
      this.sql.putSetting.run(ACTIVE_STACK_KEY, name);
    });
  }

  async getActiveStackName(): Promise<string | undefined> {
    return this.reader.getSetting.get(ACTIVE_STACK_KEY) as string | undefined;
  }

  // Schedules: rare writes, committed at once (a claim must be decided before anything fires)

  async createSchedule(schedule: NewSchedule): Promise<ScheduleRecord> {
    const id = timeOrderedId();
    try {
      this.write(() =>
        this.db
          .prepare(`INSERT INTO schedules (${SCHEDULE_COLUMNS.join(", ")}) VALUES (${SCHEDULE_COLUMNS.map(() => "?").join(", ")})`)
          .run(...scheduleInsertValues(id, schedule, Date.now())),
      );
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw new ScheduleError(`a schedule named "${schedule.name}" already exists (weir schedule delete ${schedule.name} first)`);
      }
      throw error;
    }
    return (await this.getSchedule(schedule.name))!;
  }

  async getSchedule(name: string): Promise<ScheduleRecord | undefined> {
    this.flush();
    const row = this.db.prepare(`SELECT * FROM schedules WHERE name = ?`).get(name) as ScheduleRow | undefined;
    return row && toScheduleRecord(row);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.flush();
    return (this.db.prepare(`SELECT * FROM schedules ORDER BY name`).all() as ScheduleRow[]).map(toScheduleRecord);
  }

  async updateSchedule(name: string, patch: SchedulePatch): Promise<void> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([field]) => {
      const spec = SCHEDULE_PATCH_COLUMNS[field];
      if (!spec) throw new Error(`schedules: ${field} cannot be updated`);
      return `${spec.column} = ?`;
    });
    const values = entries.map(([field, value]) => SCHEDULE_PATCH_COLUMNS[field].encode(value));
    const changes = this.write(
      () => this.db.prepare(`UPDATE schedules SET ${sets.join(", ")}, updated_at = ? WHERE name = ?`).run(...values, Date.now(), name).changes,
    );
    if (changes === 0) throw new ScheduleError(`no schedule named "${name}" (see weir schedule list)`);
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return this.write(() => this.db.prepare(`DELETE FROM schedules WHERE name = ?`).run(name).changes) > 0;
  }

  async claimScheduleTick(name: string, expected: number, next: number | null, lastFiredAt: number | null): Promise<boolean> {
    const changes = this.write(
      () =>
        this.db
          .prepare(
            `UPDATE schedules SET next_fire_at = ?, last_fired_at = ?, updated_at = ?
             WHERE name = ? AND paused = 0 AND next_fire_at = ?`,
          )
          .run(next, lastFiredAt, Date.now(), name, expected).changes,
    );
    return changes === 1;
  }

  // Helpers (the ones that touch the database run inside a batch's transaction)

  /** Inserts an artifact version with the next version number of its name. */
  private insertOutput(o: StepOutputLink): void {
    this.sql.insertStepOutput.run(o.stepRunId, o.artifactVersionId, o.outputName, o.mappingKey, o.position);
  }

  private insertConfiguration(row: ReturnType<typeof stepConfigurationRow>): void {
    this.sql.insertStepConfiguration.run(row.id, row.snapshotId, row.stepRunId, row.invocationId, row.stepName, row.config);
  }

  /** Inserts the version row (see insertVersionRow) and returns its record. */
  private insertArtifactVersion(row: ArtifactVersionInsert): ArtifactVersionRecord {
    return insertedArtifactVersion(row, this.insertVersionRow(row));
  }

  /** Inserts the version row with the next number of its name; returns the number. */
  private insertVersionRow(row: ArtifactVersionInsert): number {
    const version = this.sql.nextArtifactVersion.get(row.artifactName, row.createdAt) as number;
    this.sql.insertArtifactVersion.run(row.id, row.artifactName, version, row.uri, row.dataType, row.materializer, row.contentHash, row.size, row.metadata, row.createdAt, row.artifactStoreId);
    return version;
  }

  private readStack(name: string, sql = this.sql): StackRecord | undefined {
    const row = sql.getStack.get(name) as StackRow | undefined;
    if (!row) return undefined;
    const components = (sql.stackMembers.all(name) as MemberRow[]).map(toComponentRecord);
    return { name: row.name, components, createdAt: row.created_at };
  }

  /**
   * The work of a patch update: sets the patch's defined fields (and a new change sequence
   * number), throwing if no row has this id. Values are taken now; undefined when the
   * patch sets nothing. With `attempt` (step runs), the update is fenced: it applies only
   * while no later attempt is recorded and the step run is not final, else the work returns
   * false. (Earlier is fine: a completion may carry its attempt's start, see `startOf`.)
   */
  private prepareUpdate(
    table: "step_runs" | "pipeline_runs",
    columnsByField: Record<string, string>,
    id: string,
    patch: object,
    attempt?: number,
  ): (() => boolean) | undefined {
    const prepared = patchOf(table, columnsByField, id, patch, attempt);
    if (!prepared) return undefined;
    const { columns, values } = prepared;
    const fenced = attempt !== undefined;
    const key = `${table}:${columns.join(",")}:${fenced}`;
    let statement = this.updateStatements.get(key);
    if (!statement) {
      const set = [...columns, "seq"].map((c) => `${c} = ?`).join(", ");
      const where = fenced ? `id = ? AND attempt <= ? AND status NOT IN (${FINAL_STATUSES})` : `id = ?`;
      statement = this.db.prepare(`UPDATE ${table} SET ${set} WHERE ${where}`);
      this.updateStatements.set(key, statement);
    }
    const update = statement;
    return () => {
      const args = [...values, this.nextSeq(), id];
      if (fenced) args.push(attempt);
      if (update.run(...args).changes === 1) return true;
      if (fenced && this.sql.stepRunExists.get(id)) return false;
      throw new Error(`${table}: no row with id ${id}`);
    };
  }

  // Artifact lineage (a rare read: statements prepared on use)

  async listArtifactVersionLinks(artifactVersionId: string): Promise<{ outputs: StepOutputLink[]; inputs: StepInputLink[] }> {
    this.flush();
    const outputs = this.db
      .prepare(`SELECT * FROM step_run_outputs WHERE artifact_version_id = ? ORDER BY step_run_id, position`)
      .all(artifactVersionId) as StepOutputRow[];
    const inputs = this.db
      .prepare(`SELECT * FROM step_run_inputs WHERE artifact_version_id = ? ORDER BY step_run_id, input_name`)
      .all(artifactVersionId) as StepInputRow[];
    return { outputs: outputs.map(toStepOutputLink), inputs: inputs.map(toStepInputLink) };
  }
}

// The engine's per-step writes as objects whose work is a method: no closure per write.

/** A staged step run's INSERT (see StepRunInsert). */
class CreateStepRun implements SqliteWrite {
  readonly multiStatement = false;
  constructor(
    private readonly store: SqliteMetadataStore,
    private readonly insert: StepRunInsert,
  ) {}
  work(): void {
    this.store.insertStepRun(this.insert);
  }
}

/** A step run's completion (see completionWrite). */
class CompletionWrite implements SqliteWrite {
  readonly multiStatement = true;
  constructor(
    private readonly store: SqliteMetadataStore,
    readonly stepRunId: string,
    readonly outputs: StepCompletion["outputs"],
    readonly artifacts: ArtifactVersionInsert[],
    /** The staged row the completion was applied to (when its INSERT was still waiting), and whether its fence held. */
    readonly staged: StepRunInsert | undefined,
    readonly applied: boolean | undefined,
    /** Otherwise: the fenced UPDATE, which says whether it applied. */
    readonly update: (() => boolean) | undefined,
  ) {}
  work(): boolean {
    return this.store.applyCompletion(this);
  }
}

/** Opens (creating if needed) the SQLite metadata store at `path` and, unless told not to, brings its schema up to date. */
export async function openSqliteStore(path: string, options: { migrate?: boolean } = {}): Promise<SqliteMetadataStore> {
  const store = new SqliteMetadataStore({ path });
  try {
    if (options.migrate ?? true) await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
