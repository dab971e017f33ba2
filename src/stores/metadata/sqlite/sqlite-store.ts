/**
 * The embedded metadata store: one SQLite file shared by every process of a weir project
 * (the engine, step child processes, the CLI).
 *
 * It sits on the per-step hot path, so every statement is prepared once and reused, writes
 * that belong together run in one transaction, and the writes of one turn of the event loop
 * are committed together (write-behind batching, see SqliteMetadataStore). better-sqlite3
 * is synchronous; the methods are `async` only because the interface also serves PostgreSQL.
 */
import { mkdirSync } from "node:fs";
import { timeOrderedId } from "../../../ids.js";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ScheduleError } from "../../../authoring/errors.js";
import { migrations, SCHEMA_MIGRATIONS_TABLE } from "../migrations.js";
import { SCHEDULE_COLUMNS, SCHEDULE_PATCH_COLUMNS, scheduleInsertValues, toScheduleRecord, type ScheduleRow } from "../schedule-rows.js";
import type {
  ArtifactVersionRecord,
  ComponentRecord,
  LogLine,
  MetadataStore,
  NewArtifactVersion,
  NewRun,
  NewSchedule,
  NewSnapshot,
  NewStepConfiguration,
  NewStepRun,
  RunFilter,
  RunPatch,
  RunRecord,
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
} from "../types.js";

const ACTIVE_STACK_KEY = "active_stack";

// Rows as SQLite returns them: snake_case, JSON as text, booleans as 0/1.

interface SnapshotRow {
  id: string;
  pipeline_id: string;
  pipeline_name: string;
  is_dynamic: number;
  parameters: string;
  source: string;
  spec: string;
  created_at: number;
}

interface StepConfigurationRow {
  id: string;
  snapshot_id: string | null;
  step_run_id: string | null;
  invocation_id: string;
  step_name: string;
  config: string;
}

interface RunRow {
  id: string;
  name: string;
  pipeline_name: string;
  snapshot_id: string;
  stack_name: string;
  is_dynamic: number;
  status: RunRecord["status"];
  orchestrator_run_id: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  error: string | null;
  output: string;
  enable_cache: number;
  fingerprint: string | null;
  heartbeat_at: number | null;
  owner: string | null;
  schedule_name: string | null;
  scheduled_for: number | null;
}

interface StepRunRow {
  id: string;
  run_id: string;
  invocation_id: string;
  step_name: string;
  status: StepRunRecord["status"];
  attempt: number;
  mapping_key: string | null;
  cache_key: string | null;
  original_step_run_id: string | null;
  position: number;
  upstream: string;
  parameters: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  error: string | null;
  metadata: string;
}

interface ArtifactVersionRow {
  id: string;
  artifact_name: string;
  version: number;
  uri: string;
  data_type: string;
  materializer: string;
  content_hash: string;
  size: number;
  metadata: string;
  created_at: number;
}

interface StepInputRow {
  step_run_id: string;
  artifact_version_id: string;
  input_name: string;
}

interface StepOutputRow {
  step_run_id: string;
  artifact_version_id: string;
  output_name: string;
  mapping_key: string | null;
  position: number;
}

interface LogRow {
  id: number;
  run_id: string;
  step_run_id: string | null;
  stream: LogLine["stream"];
  message: string;
  at: number;
}

interface StackRow {
  name: string;
  created_at: number;
}

interface MemberRow {
  stack_name: string;
  id: string;
  type: ComponentRecord["type"];
  name: string;
  flavor: string;
  config: string;
}


/** Undefined (and anything else JSON cannot encode) is stored as JSON null. */
function toJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function toSnapshotRecord(row: SnapshotRow): SnapshotRecord {
  return {
    id: row.id,
    pipelineId: row.pipeline_id,
    pipelineName: row.pipeline_name,
    isDynamic: row.is_dynamic === 1,
    parameters: fromJson(row.parameters),
    source: fromJson(row.source),
    spec: fromJson(row.spec),
    createdAt: row.created_at,
  };
}

function toStepConfigurationRecord(row: StepConfigurationRow): StepConfigurationRecord {
  return {
    id: row.id,
    snapshotId: row.snapshot_id,
    stepRunId: row.step_run_id,
    invocationId: row.invocation_id,
    stepName: row.step_name,
    config: fromJson(row.config),
  };
}

function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    name: row.name,
    pipelineName: row.pipeline_name,
    snapshotId: row.snapshot_id,
    stackName: row.stack_name,
    isDynamic: row.is_dynamic === 1,
    status: row.status,
    orchestratorRunId: row.orchestrator_run_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    output: fromJson(row.output),
    enableCache: row.enable_cache === 1,
    fingerprint: row.fingerprint,
    heartbeatAt: row.heartbeat_at,
    owner: row.owner,
    scheduleName: row.schedule_name ?? null,
    scheduledFor: row.scheduled_for ?? null,
  };
}

function toStepRunRecord(row: StepRunRow): StepRunRecord {
  return {
    id: row.id,
    runId: row.run_id,
    invocationId: row.invocation_id,
    stepName: row.step_name,
    status: row.status,
    attempt: row.attempt,
    mappingKey: row.mapping_key,
    cacheKey: row.cache_key,
    originalStepRunId: row.original_step_run_id,
    position: row.position,
    upstream: fromJson(row.upstream),
    parameters: fromJson(row.parameters),
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    metadata: fromJson(row.metadata),
  };
}

function toArtifactVersionRecord(row: ArtifactVersionRow): ArtifactVersionRecord {
  return {
    id: row.id,
    artifactName: row.artifact_name,
    version: row.version,
    uri: row.uri,
    dataType: row.data_type,
    materializer: row.materializer,
    contentHash: row.content_hash,
    size: row.size,
    metadata: fromJson(row.metadata),
    createdAt: row.created_at,
  };
}

function toStepInputLink(row: StepInputRow): StepInputLink {
  return { stepRunId: row.step_run_id, artifactVersionId: row.artifact_version_id, inputName: row.input_name };
}

function toStepOutputLink(row: StepOutputRow): StepOutputLink {
  return {
    stepRunId: row.step_run_id,
    artifactVersionId: row.artifact_version_id,
    outputName: row.output_name,
    mappingKey: row.mapping_key,
    position: row.position,
  };
}

function toLogLine(row: LogRow): LogLine {
  return {
    id: row.id,
    runId: row.run_id,
    stepRunId: row.step_run_id,
    stream: row.stream,
    message: row.message,
    at: row.at,
  };
}

function toComponentRecord(row: MemberRow): ComponentRecord {
  return { id: row.id, type: row.type, name: row.name, flavor: row.flavor, config: fromJson(row.config) };
}

// Patchable fields and their columns. A field missing here cannot be patched.
const RUN_PATCH_COLUMNS: Record<keyof RunPatch, string> = {
  status: "status",
  orchestratorRunId: "orchestrator_run_id",
  startedAt: "started_at",
  endedAt: "ended_at",
  error: "error",
  output: "output",
  fingerprint: "fingerprint",
  heartbeatAt: "heartbeat_at",
  owner: "owner",
};

const STEP_RUN_PATCH_COLUMNS: Record<keyof StepRunPatch, string> = {
  status: "status",
  attempt: "attempt",
  cacheKey: "cache_key",
  originalStepRunId: "original_step_run_id",
  startedAt: "started_at",
  endedAt: "ended_at",
  error: "error",
  metadata: "metadata",
  upstream: "upstream",
};

const JSON_PATCH_COLUMNS = new Set(["output", "metadata", "upstream"]);

const RUN_SELECT = `SELECT r.*, p.name AS pipeline_name FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id`;
const ARTIFACT_VERSION_SELECT = `SELECT v.*, a.name AS artifact_name
  FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id`;
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
  return {
    pipelineIdByName: db.prepare(`SELECT id FROM pipelines WHERE name = ?`).pluck(),
    insertPipeline: db.prepare(`INSERT INTO pipelines (id, name, created_at) VALUES (?, ?, ?)`),

    insertSnapshot: db.prepare(
      `INSERT INTO pipeline_snapshots (id, pipeline_id, is_dynamic, parameters, source, spec, created_at)
       VALUES (@id, @pipelineId, @isDynamic, @parameters, @source, @spec, @createdAt)`,
    ),
    getSnapshot: db.prepare(
      `SELECT s.*, p.name AS pipeline_name FROM pipeline_snapshots s JOIN pipelines p ON p.id = s.pipeline_id
       WHERE s.id = ?`,
    ),

    insertStepConfiguration: db.prepare(
      `INSERT INTO step_configurations (id, snapshot_id, step_run_id, invocation_id, step_name, config)
       VALUES (@id, @snapshotId, @stepRunId, @invocationId, @stepName, @config)`,
    ),
    stepConfigurationsBySnapshot: db.prepare(
      `SELECT * FROM step_configurations WHERE snapshot_id = ? ORDER BY invocation_id, id`,
    ),
    stepConfigurationsByStepRun: db.prepare(
      `SELECT * FROM step_configurations WHERE step_run_id = ? ORDER BY invocation_id, id`,
    ),

    insertRun: db.prepare(
      `INSERT INTO pipeline_runs (id, name, pipeline_id, snapshot_id, stack_name, is_dynamic, status,
         orchestrator_run_id, created_at, started_at, ended_at, error, output, enable_cache, fingerprint,
         heartbeat_at, owner, schedule_name, scheduled_for)
       VALUES (@id, @name, @pipelineId, @snapshotId, @stackName, @isDynamic, @status,
         NULL, @createdAt, @startedAt, NULL, NULL, 'null', @enableCache, NULL, @heartbeatAt, @owner, @scheduleName, @scheduledFor)`,
    ),
    getRun: db.prepare(`${RUN_SELECT} WHERE r.id = ?`),
    listRuns: db.prepare(
      `${RUN_SELECT}
       WHERE (@pipelineName IS NULL OR p.name = @pipelineName) AND (@status IS NULL OR r.status = @status)
         AND (@scheduleName IS NULL OR r.schedule_name = @scheduleName)
       ORDER BY r.created_at DESC, r.rowid DESC LIMIT @limit`,
    ),

    insertStepRun: db.prepare(
      `INSERT INTO step_runs (id, run_id, invocation_id, step_name, status, attempt, mapping_key, cache_key,
         original_step_run_id, position, upstream, parameters, created_at, started_at, ended_at, error, metadata)
       VALUES (@id, @runId, @invocationId, @stepName, @status, @attempt, @mappingKey, NULL,
         NULL, @position, @upstream, @parameters, @createdAt, @startedAt, NULL, NULL, '{}')`,
    ),
    getStepRun: db.prepare(`SELECT * FROM step_runs WHERE id = ?`),
    stepRunStatus: db.prepare(`SELECT status FROM step_runs WHERE id = ?`).pluck(),
    resetStepRun: db.prepare(`UPDATE step_runs SET status = 'pending', error = NULL, ended_at = NULL WHERE id = ?`),
    deleteStepOutputs: db.prepare(`DELETE FROM step_run_outputs WHERE step_run_id = ?`),
    findStepRun: db.prepare(`SELECT * FROM step_runs WHERE run_id = ? AND invocation_id = ?`),
    listStepRuns: db.prepare(`SELECT * FROM step_runs WHERE run_id = ? ORDER BY position, rowid`),
    findCachedStepRun: db.prepare(
      `SELECT * FROM step_runs WHERE cache_key = ? AND status = 'completed'
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    ),

    artifactIdByName: db.prepare(`SELECT id FROM artifacts WHERE name = ?`).pluck(),
    insertArtifact: db.prepare(`INSERT INTO artifacts (id, name, created_at) VALUES (?, ?, ?)`),
    nextArtifactVersion: db
      .prepare(`SELECT COALESCE(MAX(version), 0) + 1 FROM artifact_versions WHERE artifact_id = ?`)
      .pluck(),
    insertArtifactVersion: db.prepare(
      `INSERT INTO artifact_versions (id, artifact_id, version, uri, data_type, materializer, content_hash, size,
         metadata, created_at)
       VALUES (@id, @artifactId, @version, @uri, @dataType, @materializer, @contentHash, @size,
         @metadata, @createdAt)`,
    ),
    getArtifactVersion: db.prepare(`${ARTIFACT_VERSION_SELECT} WHERE v.id = ?`),
    listArtifactVersions: db.prepare(
      `${ARTIFACT_VERSION_SELECT} WHERE (@artifactName IS NULL OR a.name = @artifactName)
       ORDER BY v.created_at DESC, v.rowid DESC LIMIT @limit`,
    ),

    // A resumed step run records its inputs again: the newest link for an input name wins.
    insertStepInput: db.prepare(
      `INSERT INTO step_run_inputs (step_run_id, artifact_version_id, input_name)
       VALUES (@stepRunId, @artifactVersionId, @inputName)
       ON CONFLICT (step_run_id, input_name) DO UPDATE SET artifact_version_id = excluded.artifact_version_id`,
    ),
    listStepInputs: db.prepare(`SELECT * FROM step_run_inputs WHERE step_run_id = ? ORDER BY input_name`),
    insertStepOutput: db.prepare(
      `INSERT INTO step_run_outputs (step_run_id, artifact_version_id, output_name, mapping_key, position)
       VALUES (@stepRunId, @artifactVersionId, @outputName, @mappingKey, @position)`,
    ),
    listStepOutputs: db.prepare(
      `SELECT * FROM step_run_outputs WHERE step_run_id = ? ORDER BY position, output_name`,
    ),

    saveStepTask: db.prepare(
      `INSERT INTO step_run_tasks (step_run_id, attempt, task) VALUES (?, ?, ?)
       ON CONFLICT (step_run_id) DO UPDATE SET attempt = excluded.attempt, task = excluded.task`,
    ),
    getStepTask: db.prepare(`SELECT attempt, task FROM step_run_tasks WHERE step_run_id = ?`),
    insertLog: db.prepare(
      `INSERT INTO logs (run_id, step_run_id, stream, message, at) VALUES (@runId, @stepRunId, @stream, @message, @at)`,
    ),
    listLogs: db.prepare(
      `SELECT * FROM logs
       WHERE run_id = @runId AND id > @afterId AND (@stepRunId IS NULL OR step_run_id = @stepRunId)
       ORDER BY id`,
    ),

    insertStack: db.prepare(`INSERT INTO stacks (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
    getStack: db.prepare(`SELECT * FROM stacks WHERE name = ?`),
    listStacks: db.prepare(`SELECT * FROM stacks ORDER BY name`),
    deleteStackMembers: db.prepare(`DELETE FROM stack_members WHERE stack_name = ?`),
    deleteStack: db.prepare(`DELETE FROM stacks WHERE name = ?`),
    upsertComponent: db
      .prepare(
        `INSERT INTO stack_components (id, type, name, flavor, config) VALUES (@id, @type, @name, @flavor, @config)
         ON CONFLICT (type, name) DO UPDATE SET flavor = excluded.flavor, config = excluded.config
         RETURNING id`,
      )
      .pluck(),
    insertStackMember: db.prepare(`INSERT INTO stack_members (stack_name, component_id, position) VALUES (?, ?, ?)`),
    stackMembers: db.prepare(`${MEMBER_SELECT} WHERE m.stack_name = ? ORDER BY m.position`),
    allStackMembers: db.prepare(`${MEMBER_SELECT} ORDER BY m.stack_name, m.position`),

    getSetting: db.prepare(`SELECT value FROM settings WHERE key = ?`).pluck(),
    putSetting: db.prepare(
      `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

// Tuning, measured with bench/store-micro.ts (10,000–50,000 steps, 2 cores, ext4):
/** Page cache per connection, KiB. SQLite's default, 2 MiB: 81–101 µs/step at 50,000 steps; 32 MiB: 61–63. */
const CACHE_KIB = 32 * 1024;
/** WAL pages after which a commit checkpoints. SQLite's default, 1,000: 346–366 µs/step one step at a time; 10,000: 254–304. */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** Size the WAL file is truncated back to after a checkpoint resets it, bytes (the default keeps it as large as it grew). */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

/** A write waiting for its batch: the statements to run, and the caller's promise. */
interface PendingWrite {
  work: () => unknown;
  /**
   * The work may run more than one statement, so undoing it on failure needs a SAVEPOINT.
   * A write of one statement needs none: SQLite undoes a failed statement by itself and
   * keeps the transaction going.
   */
  multiStatement: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  failed: boolean;
  /** The work's return value, or its error when `failed`. */
  outcome: unknown;
}

/** Thrown inside a batch to roll it back and run it again with savepoints. */
const RETRY_WITH_SAVEPOINTS = Symbol("retry the batch with savepoints");

/**
 * Most writes one transaction holds, and most writes queued: when this many are waiting
 * they are committed at once instead of at the end of the turn. It bounds the memory the
 * queue holds, how much the WAL grows before a checkpoint can run, and how much work a
 * batch-level failure (disk full, lock timeout) rejects at once.
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
 * Writes are batched ("write-behind"): each write method prepares its rows at once (so
 * later changes to the caller's objects don't leak in), queues the statements and returns
 * a promise that resolves when the transaction holding them has committed. One flush per
 * turn of the event loop (`setImmediate`) commits every queued write in one IMMEDIATE
 * transaction, so a step's three writes cost a few statements instead of three commits.
 *
 * Guarantees:
 * - a write's promise resolves only after its transaction committed, and rejects with its
 *   own error only: a failing write (a UNIQUE or foreign-key violation, an unknown id) is
 *   undone alone — by SQLite for a one-statement write, by a SAVEPOINT for a multi-row
 *   one (see `commit`) — so completeStepRun and its kin stay all-or-nothing, and the other
 *   writes of the batch commit;
 * - writes are applied in the order they were called, and batches commit in that order,
 *   so after a crash the file holds a prefix of the writes (minus the rejected ones);
 * - reads see every earlier write of this store: each read commits pending writes first;
 * - `close()`, `flush()` and a normal process exit commit what is pending.
 */
export class SqliteMetadataStore implements MetadataStore {
  readonly dialect = "sqlite";
  private readonly db: Database.Database;
  private prepared: Statements | undefined;
  /** Patch updates touch a varying set of columns: one statement per set, prepared on first use. */
  private readonly updateStatements = new Map<string, Database.Statement>();
  private readonly transaction: Database.Transaction<(work: () => unknown) => unknown>;
  private readonly batchTransaction: Database.Transaction<(batch: PendingWrite[], savepoints: boolean) => void>;
  private pending: PendingWrite[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(options: { path: string }) {
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    // Set first: switching to WAL below already needs a lock another process may hold.
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("journal_mode = WAL");
    // With WAL, NORMAL skips the fsync per commit: a power cut may lose the last commits but
    // never corrupts the file, and a killed process loses nothing it committed.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    // Sorts and temporary indexes stay in memory; a larger page cache (the default is 2 MiB)
    // keeps the step-run and artifact indexes of a 100,000-step run cached.
    this.db.pragma("temp_store = MEMORY");
    this.db.pragma(`cache_size = ${-CACHE_KIB}`);
    // Checkpoint less often (pages changed again before the checkpoint are copied once) and
    // truncate the WAL back to a bounded size after a checkpoint resets it.
    this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    this.db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    this.transaction = this.db.transaction((work: () => unknown) => work());
    this.batchTransaction = this.db.transaction((batch: PendingWrite[], savepoints: boolean) => {
      for (const write of batch) {
        try {
          // Nested in the batch's transaction, better-sqlite3 runs the work in a SAVEPOINT
          // and rolls back to it if the work throws.
          write.outcome = savepoints && write.multiStatement ? this.transaction(write.work) : write.work();
          write.failed = false;
        } catch (error) {
          // A few errors (I/O, disk full) make SQLite roll back the whole transaction: then
          // nothing of the batch was written, and every write of it fails.
          if (!this.db.inTransaction) throw error;
          // A multi-statement write may have half happened: start over, this time with savepoints.
          if (!savepoints && write.multiStatement) throw RETRY_WITH_SAVEPOINTS;
          write.failed = true;
          write.outcome = error;
        }
      }
    });
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
    return this.transaction.immediate(work) as T;
  }

  /**
   * Queues `work` for the next batch; resolves with its result once that batch committed.
   * `statements` is how many statements the work may run (1: no savepoint needed).
   */
  private enqueue<T>(work: () => T, statements = 2): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        work,
        multiStatement: statements > 1,
        resolve: resolve as (value: unknown) => void,
        reject,
        failed: false,
        outcome: undefined,
      });
      // A full batch commits at once: queued writes hold their rows in memory, and a
      // pipeline that discovers 100,000 steps in one turn would otherwise queue them all.
      if (this.pending.length >= MAX_BATCH) this.flush();
      else this.scheduled ??= setImmediate(this.scheduledFlush);
    });
  }

  private readonly scheduledFlush = (): void => {
    this.scheduled = undefined;
    this.flush();
  };

  /**
   * Commits every pending write now, synchronously (reads, `close()` and process exit call
   * it). Callers' promises settle afterwards, as usual for promises.
   */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    while (this.pending.length > 0) {
      const all = this.pending;
      this.pending = [];
      for (let start = 0; start < all.length; start += MAX_BATCH) {
        this.commit(all.length <= MAX_BATCH ? all : all.slice(start, start + MAX_BATCH));
      }
    }
  }

  /**
   * Commits one batch. Writes rarely fail, so the batch first runs without savepoints (each
   * costs two statements); if a multi-statement write fails, the transaction is rolled back
   * and the batch runs again with a savepoint around each such write. The works only hold
   * prepared values, so running one again does the same thing.
   */
  private commit(batch: PendingWrite[]): void {
    try {
      try {
        this.batchTransaction.immediate(batch, false);
      } catch (error) {
        if (error !== RETRY_WITH_SAVEPOINTS) throw error;
        this.batchTransaction.immediate(batch, true);
      }
    } catch (error) {
      // BEGIN, COMMIT or the transaction as a whole failed: nothing of the batch is on record.
      for (const write of batch) write.reject(write.failed ? write.outcome : error);
      return;
    }
    for (const write of batch) {
      if (write.failed) write.reject(write.outcome);
      else write.resolve(write.outcome);
    }
  }

  /** Reads start here: they must see every write made before them. */
  private get reader(): Statements {
    if (this.pending.length > 0) this.flush();
    return this.sql;
  }

  async migrate(): Promise<void> {
    this.write(() => {
      this.db.exec(SCHEMA_MIGRATIONS_TABLE);
      const applied = new Set(this.db.prepare(`SELECT version FROM schema_migrations`).pluck().all());
      const record = this.db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`);
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.up("sqlite")) this.db.exec(statement);
        record.run(migration.version, migration.name, Date.now());
      }
    });
  }

  async close(): Promise<void> {
    try {
      this.flush();
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
      const pipelineId = this.pipelineId(snapshot.pipelineName, createdAt);
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
      for (const row of rows) this.sql.insertStepConfiguration.run(row);
    }, rows.length);
  }

  async listStepConfigurations(
    owner: { snapshotId: string } | { stepRunId: string },
  ): Promise<StepConfigurationRecord[]> {
    const sql = this.reader;
    const rows =
      "snapshotId" in owner
        ? sql.stepConfigurationsBySnapshot.all(owner.snapshotId)
        : sql.stepConfigurationsByStepRun.all(owner.stepRunId);
    return (rows as StepConfigurationRow[]).map(toStepConfigurationRecord);
  }

  // Runs

  async createRun(run: NewRun): Promise<RunRecord> {
    const createdAt = Date.now();
    const status = run.status ?? "initializing";
    const record: RunRecord = {
      id: run.id ?? timeOrderedId(),
      name: run.name,
      pipelineName: run.pipelineName,
      snapshotId: run.snapshotId,
      stackName: run.stackName,
      isDynamic: run.isDynamic,
      status,
      orchestratorRunId: null,
      createdAt,
      // A run created as running has started now.
      startedAt: status === "running" ? createdAt : null,
      endedAt: null,
      error: null,
      output: null,
      enableCache: run.enableCache,
      fingerprint: null,
      heartbeatAt: run.heartbeatAt ?? null,
      owner: run.owner ?? null,
      scheduleName: run.scheduleName ?? null,
      scheduledFor: run.scheduledFor ?? null,
    };
    const row = { ...record, isDynamic: record.isDynamic ? 1 : 0, enableCache: record.enableCache ? 1 : 0 };
    return this.enqueue((): RunRecord => {
      this.sql.insertRun.run({ ...row, pipelineId: this.pipelineId(run.pipelineName, createdAt) });
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
    const rows = this.reader.listRuns.all({
      pipelineName: filter.pipelineName ?? null,
      status: filter.status ?? null,
      scheduleName: filter.scheduleName ?? null,
      limit: filter.limit ?? -1, // SQLite reads a negative LIMIT as "no limit"
    }) as RunRow[];
    return rows.map(toRunRecord);
  }

  // Step runs

  async createStepRun(stepRun: NewStepRun): Promise<StepRunRecord> {
    const createdAt = Date.now();
    const status = stepRun.status ?? "pending";
    // A step run created as running has started its first attempt now.
    const started = status === "running";
    const upstream = toJson(stepRun.upstream);
    const parameters = toJson(stepRun.parameters);
    const record: StepRunRecord = {
      id: stepRun.id ?? timeOrderedId(),
      runId: stepRun.runId,
      invocationId: stepRun.invocationId,
      stepName: stepRun.stepName,
      status,
      attempt: started ? 1 : 0,
      mappingKey: stepRun.mappingKey ?? null,
      cacheKey: null,
      originalStepRunId: null,
      position: stepRun.position,
      upstream: stepRun.upstream,
      parameters: stepRun.parameters,
      createdAt,
      startedAt: started ? createdAt : null,
      endedAt: null,
      error: null,
      metadata: {},
    };
    const row = { ...record, upstream, parameters };
    const configuration =
      stepRun.configuration === undefined
        ? undefined
        : stepConfigurationRow({
            stepRunId: record.id,
            invocationId: record.invocationId,
            stepName: record.stepName,
            config: stepRun.configuration,
          });
    return this.enqueue((): StepRunRecord => {
      this.sql.insertStepRun.run(row);
      if (configuration) this.sql.insertStepConfiguration.run(configuration);
      return record;
    }, configuration ? 2 : 1);
  }

  async updateStepRun(id: string, patch: StepRunPatch): Promise<void> {
    const update = this.prepareUpdate("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
    if (update) await this.enqueue(update, 1);
  }

  async completeStepRun(completion: StepCompletion): Promise<void> {
    const { stepRunId } = completion;
    const update = this.prepareUpdate("step_runs", STEP_RUN_PATCH_COLUMNS, stepRunId, {
      status: completion.status,
      endedAt: completion.endedAt,
      cacheKey: completion.cacheKey,
      originalStepRunId: completion.originalStepRunId,
      metadata: completion.metadata,
    });
    const artifacts = completion.newArtifacts.map((artifact) => artifactVersionRow(artifact, artifact.id ?? timeOrderedId()));
    const outputs = completion.outputs.map((output) => ({
      stepRunId,
      artifactVersionId: output.artifactVersionId,
      outputName: output.outputName,
      mappingKey: output.mappingKey,
      position: output.position,
    }));
    await this.enqueue(() => {
      update?.();
      for (const artifact of artifacts) this.insertArtifactVersion(artifact);
      for (const output of outputs) this.sql.insertStepOutput.run(output);
    });
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
      this.sql.insertStepOutput.run(output);
      return version;
    });
  }

  /** Refuses completed and cached step runs: resetting would drop outputs other steps may use. */
  async resetStepRun(id: string): Promise<void> {
    await this.enqueue(() => {
      const status = this.sql.stepRunStatus.get(id) as StepRunRecord["status"] | undefined;
      if (status === undefined) throw new Error(`resetStepRun: unknown step run ${id}`);
      if (status === "completed" || status === "cached") {
        throw new Error(`resetStepRun: step run ${id} is ${status}`);
      }
      this.sql.resetStepRun.run(id);
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

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    const rows = this.reader.listArtifactVersions.all({
      artifactName: filter.artifactName ?? null,
      limit: filter.limit ?? -1,
    }) as ArtifactVersionRow[];
    return rows.map(toArtifactVersionRecord);
  }

  async addStepInputs(links: StepInputLink[]): Promise<void> {
    if (links.length === 0) return;
    const rows = links.map((link) => ({
      stepRunId: link.stepRunId,
      artifactVersionId: link.artifactVersionId,
      inputName: link.inputName,
    }));
    await this.enqueue(() => {
      for (const row of rows) this.sql.insertStepInput.run(row);
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

  /** The pipeline's id, registering the pipeline on first sight. */
  private pipelineId(name: string, now: number): string {
    const existing = this.sql.pipelineIdByName.get(name) as string | undefined;
    if (existing) return existing;
    const id = timeOrderedId();
    this.sql.insertPipeline.run(id, name, now);
    return id;
  }

  /**
   * Inserts an artifact version with the next version number of its name, registering the
   * name on first sight. The number is read, then used, in the same transaction.
   */
  private insertArtifactVersion(row: ArtifactVersionInsert): ArtifactVersionRecord {
    let artifactId = this.sql.artifactIdByName.get(row.artifactName) as string | undefined;
    let version = 1;
    if (artifactId) {
      version = this.sql.nextArtifactVersion.get(artifactId) as number;
    } else {
      // A new artifact (the usual case for mapped and fanned-out steps) starts at version 1.
      artifactId = timeOrderedId();
      this.sql.insertArtifact.run(artifactId, row.artifactName, row.createdAt);
    }
    this.sql.insertArtifactVersion.run({ ...row, artifactId, version });
    return {
      id: row.id,
      artifactName: row.artifactName,
      version,
      uri: row.uri,
      dataType: row.dataType,
      materializer: row.materializer,
      contentHash: row.contentHash,
      size: row.size,
      metadata: row.metadataValue,
      createdAt: row.createdAt,
    };
  }

  private readStack(name: string, sql = this.sql): StackRecord | undefined {
    const row = sql.getStack.get(name) as StackRow | undefined;
    if (!row) return undefined;
    const components = (sql.stackMembers.all(name) as MemberRow[]).map(toComponentRecord);
    return { name: row.name, components, createdAt: row.created_at };
  }

  /**
   * The work of a patch update: sets the patch's defined fields, throwing if no row has this
   * id. Values are taken now; undefined when the patch sets nothing.
   */
  private prepareUpdate(
    table: string,
    columnsByField: Record<string, string>,
    id: string,
    patch: object,
  ): (() => void) | undefined {
    const columns: string[] = [];
    const values: unknown[] = [];
    const fields = patch as Record<string, unknown>;
    for (const field in fields) {
      const value = fields[field];
      if (value === undefined || !Object.hasOwn(fields, field)) continue;
      if (!Object.hasOwn(columnsByField, field)) throw new Error(`${table}: ${field} cannot be updated`);
      const column = columnsByField[field];
      columns.push(column);
      values.push(JSON_PATCH_COLUMNS.has(column) ? toJson(value) : value);
    }
    if (columns.length === 0) return undefined;
    const key = `${table}:${columns.join(",")}`;
    let statement = this.updateStatements.get(key);
    if (!statement) {
      statement = this.db.prepare(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`);
      this.updateStatements.set(key, statement);
    }
    values.push(id);
    const prepared = statement;
    return () => {
      if (prepared.run(...values).changes === 0) throw new Error(`${table}: no row with id ${id}`);
    };
  }

  // Deleting runs and artifact lineage (rare operations: statements prepared on use)

  async deleteRun(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }> {
    return this.write(() => {
      const run = this.db.prepare(`SELECT snapshot_id, output FROM pipeline_runs WHERE id = ?`).get(runId) as
        | { snapshot_id: string; output: string }
        | undefined;
      if (!run) throw new Error(`pipeline_runs: no row with id ${runId}`);
      // Versions this run touched: its step runs' outputs and inputs, and what its output references
      // (a non-JSON return value is a version no step run links to).
      const touched = new Set(
        this.db
          .prepare(
            `SELECT o.artifact_version_id FROM step_run_outputs o JOIN step_runs s ON s.id = o.step_run_id WHERE s.run_id = ?
             UNION SELECT i.artifact_version_id FROM step_run_inputs i JOIN step_runs s ON s.id = i.step_run_id WHERE s.run_id = ?`,
          )
          .pluck()
          .all(runId, runId) as string[],
      );
      for (const id of artifactReferences(fromJson(run.output))) touched.add(id);
      const usedElsewhere = this.db.prepare(
        `SELECT 1 FROM step_run_outputs o JOIN step_runs s ON s.id = o.step_run_id WHERE o.artifact_version_id = ? AND s.run_id <> ?
         UNION ALL SELECT 1 FROM step_run_inputs i JOIN step_runs s ON s.id = i.step_run_id WHERE i.artifact_version_id = ? AND s.run_id <> ?
         LIMIT 1`,
      );
      const getVersion = this.db.prepare(`SELECT id, artifact_id, uri FROM artifact_versions WHERE id = ?`);
      const orphans: { id: string; artifact_id: string; uri: string }[] = [];
      for (const id of touched) {
        if (usedElsewhere.get(id, runId, id, runId)) continue;
        const version = getVersion.get(id) as { id: string; artifact_id: string; uri: string } | undefined;
        if (version) orphans.push(version);
      }
      // Step runs, their configurations, tasks, links and the run's logs go by ON DELETE CASCADE;
      // other runs' cached step runs keep their row (original_step_run_id is SET NULL).
      this.db.prepare(`DELETE FROM pipeline_runs WHERE id = ?`).run(runId);
      this.db
        .prepare(`DELETE FROM pipeline_snapshots WHERE id = ? AND NOT EXISTS (SELECT 1 FROM pipeline_runs WHERE snapshot_id = ?)`)
        .run(run.snapshot_id, run.snapshot_id);
      const deleteVersion = this.db.prepare(`DELETE FROM artifact_versions WHERE id = ?`);
      const deleteEmptyArtifact = this.db.prepare(
        `DELETE FROM artifacts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM artifact_versions WHERE artifact_id = ?)`,
      );
      for (const version of orphans) deleteVersion.run(version.id);
      for (const artifactId of new Set(orphans.map((v) => v.artifact_id))) deleteEmptyArtifact.run(artifactId, artifactId);
      return { artifactUris: orphans.map((v) => ({ uri: v.uri, artifactStoreId: null })) };
    });
  }

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

/** An artifact version row ready to insert, all but its artifact id and version number. */
interface ArtifactVersionInsert extends Omit<NewArtifactVersion, "id" | "metadata"> {
  id: string;
  /** The metadata as stored (JSON text), and as given. */
  metadata: string;
  metadataValue: Record<string, unknown>;
  createdAt: number;
}

function artifactVersionRow(artifact: NewArtifactVersion, id: string): ArtifactVersionInsert {
  return {
    id,
    artifactName: artifact.artifactName,
    uri: artifact.uri,
    dataType: artifact.dataType,
    materializer: artifact.materializer,
    contentHash: artifact.contentHash,
    size: artifact.size,
    metadata: toJson(artifact.metadata ?? {}),
    metadataValue: artifact.metadata ?? {},
    createdAt: Date.now(),
  };
}

function stepConfigurationRow(config: NewStepConfiguration) {
  return {
    id: timeOrderedId(),
    snapshotId: config.snapshotId ?? null,
    stepRunId: config.stepRunId ?? null,
    invocationId: config.invocationId,
    stepName: config.stepName,
    config: toJson(config.config),
  };
}

/** The artifact version ids a run output references (`{ "$artifact": id }`, deeply). */
function artifactReferences(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) artifactReferences(item, found);
  else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record.$artifact === "string") found.push(record.$artifact);
    else for (const item of Object.values(record)) artifactReferences(item, found);
  }
  return found;
}

/** Opens (creating if needed) the SQLite metadata store at `path` and brings its schema up to date. */
export async function openSqliteStore(path: string): Promise<SqliteMetadataStore> {
  const store = new SqliteMetadataStore({ path });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
