/**
 * The embedded metadata store: one SQLite file shared by every process of a weir project
 * (the engine, step child processes, the CLI).
 *
 * It sits on the per-step hot path, so every statement is prepared once and reused, writes
 * that belong together run in one transaction, and the writes of one turn of the event loop
 * are committed together (write-behind batching, see SqliteMetadataStore). better-sqlite3
 * is synchronous; the methods are `async` only because the interface also serves PostgreSQL.
 */
import type Database from "better-sqlite3";
import { timeOrderedId } from "../../../ids.js";
import { LATEST_SCHEMA_VERSION, migrations, pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from "../migrations.js";
import { FRESH_SCHEMA, FRESH_SCHEMA_VERSION } from "./fresh-schema.js";
import type { VersionedStore } from "../open.js";
import { QueuedCacheEffects } from "../queued-cache-effects.js";
import { WriteBatcher, type Outcome } from "../write-batcher.js";
import { StepRunInsert } from "../sql/step-run-insert.js";
import { prepareStatements, type Statements } from "./statements.js";
import { ACTIVE_STACK_KEY, readStack, SqliteWriteApplier, type SqliteOp } from "./writes.js";
import { WriterThread } from "./writer-thread.js";
import { openDatabase, storeFileError } from "./file-errors.js";
import {
  artifactVersionRow,
  cacheHitMayBeQueued,
  cacheHitRecordsOf,
  configurationsOfSnapshot,
  stepConfigurationRow,
  fromJson,
  newRunRecord,
  newSnapshotRecord,
  patchOf,
  completionPatch,
  RUN_PATCH_COLUMNS,
  runFilterParams,
  STEP_RUN_PATCH_COLUMNS,
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
  type CacheHitRow,
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
  CacheHitRecords,
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

/**
 * A queued write: an op, or a step run's INSERT still open to the writes about it that
 * follow in the same batch (StepRunInsert), made an op when the batch is committed.
 */
type QueuedWrite = SqliteOp | StepRunInsert;

function toOp(write: QueuedWrite): SqliteOp {
  return write instanceof StepRunInsert ? write.op() : write;
}

/** Step input links as a write; the values are taken now (the caller may change its objects before the batch commits). */
function inputsOp(links: StepInputLink[]): SqliteOp {
  return { op: "inputs", rows: links.map((link): [string, string, string] => [link.stepRunId, link.artifactVersionId, link.inputName]) };
}

/**
 * Most writes one transaction holds. It bounds the memory the queue holds, how much the
 * WAL grows before a checkpoint can run, and how much work a batch-level failure (disk
 * full, lock timeout) rejects at once.
 */
const MAX_BATCH = 4096;

/**
 * A store starts its writer thread when a run starts writing through it (`stepRunWriter`), or
 * when its batches get this large, and commits there from then on, on another core
 * (writer-thread.ts). The CLI's reads and small writes never start one: it costs ~30–50 ms of
 * CPU to boot.
 */
const WRITER_THREAD_BATCH = 512;

/**
 * `WEIR_SQLITE_WRITER_THREAD` (never, auto, always): whether SQLite stores commit on a writer
 * thread. `never` is the default: measured on this project's 2-core machine, the thread made
 * every benchmark row slower (fan-out 10,000: 81 → 90 µs/step; chain 1,000: 161 → 215), as its
 * second core is already busy with V8's garbage collector and compiler and the ops must be
 * copied to it. `auto` (a thread from the first run on) is for machines with cores to spare;
 * it is not measured here.
 */
function writerThreadSetting(): "auto" | "always" | "never" {
  const value = process.env.WEIR_SQLITE_WRITER_THREAD ?? "never";
  if (value === "auto" || value === "always" || value === "never") return value;
  throw new Error(`WEIR_SQLITE_WRITER_THREAD must be auto, always or never, not "${value}"`);
}

/** Batches on their way to (or in) the writer thread at once; more wait and are merged. */
const WRITER_THREAD_IN_FLIGHT = 4;

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
  private readonly transaction: Database.Transaction<(work: () => unknown) => unknown>;
  /** Applies batches on this thread's connection (until a writer thread takes over). */
  private readonly applier: SqliteWriteApplier;
  private readonly batcher: WriteBatcher<QueuedWrite>;
  /** Step runs whose INSERT waits in the batch: later writes about them change the row instead (StepRunInsert). */
  private readonly staged = new Map<string, StepRunInsert>();
  /** Queued step-run writes that could change a cache lookup's answer (lookups read committed state otherwise). */
  private readonly cacheEffects: QueuedCacheEffects;
  /** `auto`: a writer thread once batches get large; `always`, `never` (tests choose). */
  private readonly writerThreadMode: "auto" | "always" | "never";
  private writer: WriterThread | undefined;

  constructor(options: { path: string; writerThread?: "auto" | "always" | "never" }) {
    this.path = options.path;
    this.writerThreadMode = options.writerThread ?? writerThreadSetting();
    this.db = openDatabase(options.path);
    this.transaction = this.db.transaction((work: () => unknown) => work());
    this.applier = new SqliteWriteApplier(this.db, this.path);
    this.batcher = new WriteBatcher<QueuedWrite>(
      { apply: (batch) => this.commit(batch), waitSync: () => this.writer?.waitSync() },
      { maxBatch: MAX_BATCH, maxInFlight: WRITER_THREAD_IN_FLIGHT },
    );
    this.cacheEffects = new QueuedCacheEffects(this.batcher);
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

  /** Queues `op` for the next batch; resolves with its outcome once that batch committed. */
  private enqueue<T>(op: QueuedWrite): Promise<T> {
    return this.batcher.enqueue<T>(op);
  }

  /**
   * Commits every pending write now (reads, `close()` and process exit call it), waiting for
   * the writer thread when it has them. Callers' promises settle afterwards, as usual.
   */
  flush(): void {
    this.batcher.flushSync();
  }

  /**
   * Commits one batch: on this thread's connection, or posted to the writer thread once the
   * store has one and it is ready (started when a batch is large, see WRITER_THREAD_BATCH).
   * Every batch before the thread's first was committed here, synchronously, so the order of
   * commits holds.
   */
  private commit(batch: readonly QueuedWrite[]): Outcome[] | Promise<Outcome[]> {
    const ops = batch.map(toOp);
    if (this.writerThreadMode === "always" || batch.length >= WRITER_THREAD_BATCH) this.startWriterThread();
    return this.writer?.ready ? this.writer.send(ops) : this.applier.commit(ops);
  }

  private startWriterThread(): void {
    if (!this.writer && this.path !== ":memory:" && this.writerThreadMode !== "never") this.writer = new WriterThread(this.path);
  }

  /** Errors of the file itself (corrupt, read-only, deleted) name the file and what to do. */
  private explain(error: unknown): unknown {
    return storeFileError(this.path, error) ?? error;
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
    const pendingBefore = this.pendingMigrationList();
    // Up to date (every open after the first of a version): nothing to write, nothing to
    // check. (The key check below reads every row of every table: ~140 ms at 100,000 step runs.)
    if (pendingBefore.length === 0) return;
    const rebuilds = pendingBefore.some((migration) => migration.rebuildsTables);
    if (rebuilds) this.db.pragma("foreign_keys = OFF");
    try {
      this.write(() => {
        const record = this.db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`);
        // Read again under the write lock: another process may have migrated meanwhile.
        const pending = this.pendingMigrationList();
        // A new database gets the schema all migrations leave in one go (fresh-schema.ts).
        const fresh = pending.length === migrations.length && FRESH_SCHEMA_VERSION === LATEST_SCHEMA_VERSION;
        if (fresh) this.db.exec(FRESH_SCHEMA.join(";\n"));
        for (const migration of pending) {
          if (!fresh) for (const statement of migration.up("sqlite")) this.db.exec(statement);
          record.run(migration.version, migration.name, Date.now());
        }
        // Rows a migration moved must still name rows that exist; a fresh schema has none.
        const broken = fresh || pending.length === 0 ? [] : (this.db.pragma("foreign_key_check") as { table: string; parent: string }[]);
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
      await this.writer?.close();
      this.db.close();
    }
  }

  // Snapshots and step configurations

  async createSnapshot(snapshot: NewSnapshot): Promise<SnapshotRecord> {
    const createdAt = Date.now();
    const id = timeOrderedId();
    const pipelineId = await this.enqueue<string>({
      op: "snapshot",
      id,
      pipelineName: snapshot.pipelineName,
      isDynamic: snapshot.isDynamic ? 1 : 0,
      parameters: toJson(snapshot.parameters),
      source: toJson(snapshot.source),
      spec: toJson(snapshot.spec),
      createdAt,
    });
    return newSnapshotRecord(snapshot, id, pipelineId, createdAt);
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    const row = this.reader.getSnapshot.get(id) as SnapshotRow | undefined;
    return row && toSnapshotRecord(row);
  }

  async createStepConfigurations(configs: NewStepConfiguration[]): Promise<void> {
    // The owner check (exactly one of snapshot / step run) is left to the table's CHECK.
    const rows = configs.map(stepConfigurationRow).map((r) => [r.id, r.snapshotId, r.stepRunId, r.invocationId, r.stepName, r.config]);
    await this.enqueue({ op: "configurations", rows });
  }

  async listStepConfigurations(
    owner: { snapshotId: string } | { stepRunId: string },
  ): Promise<StepConfigurationRecord[]> {
    const sql = this.reader;
    const rows =
      "snapshotId" in owner
        ? sql.stepConfigurationsBySnapshot.all(owner.snapshotId)
        : sql.stepConfigurationsByStepRun.all({ id: owner.stepRunId });
    // A static snapshot's configurations are its spec's steps (rows only for older snapshots).
    if (rows.length === 0 && "snapshotId" in owner) return configurationsOfSnapshot(await this.getSnapshot(owner.snapshotId));
    return (rows as StepConfigurationRow[]).map(toStepConfigurationRecord);
  }

  // Runs

  async createRun(run: NewRun): Promise<RunRecord> {
    const record = newRunRecord(run, run.id ?? timeOrderedId());
    const row = { ...record, isDynamic: record.isDynamic ? 1 : 0, enableCache: record.enableCache ? 1 : 0 };
    record.seq = await this.enqueue<number>({ op: "run", pipelineName: run.pipelineName, row });
    return record;
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const update = patchOf("pipeline_runs", RUN_PATCH_COLUMNS, id, patch);
    if (update) await this.enqueue({ op: "patch", ...update });
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
    return this.enqueue<boolean>({ op: "claimRun", runId, owner, now: Date.now(), staleBefore: staleBeforeMs });
  }

  async deleteRun(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }> {
    const deleted = this.enqueue<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }>({ op: "deleteRun", runId });
    this.cacheEffects.stepRunsRemoved();
    return deleted;
  }

  // Step runs

  async createStepRun(stepRun: NewStepRun): Promise<StepRunRecord> {
    const insert = this.stageStepRun(stepRun);
    // The record as created (later writes of the same batch change the row, not this copy).
    const record = { ...insert.record };
    record.seq = await this.enqueue<number>(insert);
    return record;
  }

  async updateStepRun(id: string, patch: StepRunPatch): Promise<void> {
    const staged = this.staged.get(id);
    const update = staged ? undefined : patchOf("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
    staged?.patch(patch);
    const written = staged ? this.enqueue<void>({ op: "stepRunExists", id }) : update && this.enqueue<void>({ op: "patch", ...update });
    this.cacheEffects.stepRunWritten(id, patch);
    await written;
  }

  async completeStepRun(completion: StepCompletion): Promise<boolean> {
    const written = this.enqueue<boolean>(this.completionOp(completion));
    this.cacheEffects.stepRunWritten(completion.stepRunId, completion);
    return written;
  }

  /**
   * The run engine's writes of its step runs, the same as createStepRun, updateStepRun and
   * completeStepRun but without a promise each (see `StepRunWriter`).
   */
  stepRunWriter(failed: (error: unknown) => void): StepRunWriter {
    // A run is starting: its writer thread boots now, in parallel with the run's first steps,
    // and takes over the commits once it is ready (see commit).
    this.startWriterThread();
    const ignore = () => undefined;
    return {
      create: (stepRun) => this.batcher.enqueueWith(this.stageStepRun(stepRun), ignore, failed),
      update: (id, patch) => {
        const staged = this.staged.get(id);
        if (staged) staged.patch(patch);
        else {
          const update = patchOf("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
          if (update) this.batcher.enqueueWith({ op: "patch", ...update }, ignore, failed);
        }
        this.cacheEffects.stepRunWritten(id, patch);
      },
      complete: (completion, ignored) => {
        this.batcher.enqueueWith(this.completionOp(completion), whenIgnored, failed, { completion, ignored });
        this.cacheEffects.stepRunWritten(completion.stepRunId, completion);
      },
      inputs: (links) => {
        if (links.length > 0) this.batcher.enqueueWith(inputsOp(links), ignore, failed);
      },
      settled: () => this.batcher.barrier(),
    };
  }

  /**
   * A new step run row, open to the writes about it that follow in the same batch. Once the
   * batch is committed (made an op), the writes after it are statements of their own.
   */
  private stageStepRun(stepRun: NewStepRun): StepRunInsert {
    const insert = new StepRunInsert(stepRun, () => {
      if (this.staged.get(insert.id) === insert) this.staged.delete(insert.id);
    });
    this.staged.set(insert.id, insert);
    return insert;
  }

  /**
   * A completion as a queued op: the fenced step-run update, or the change of the staged row
   * (decided now, as its UPDATE would be decided in its place in the batch), its new versions
   * and its output links.
   */
  private completionOp(completion: StepCompletion): SqliteOp {
    const staged = this.staged.get(completion.stepRunId);
    const artifacts = completion.newArtifacts.map((artifact) => artifactVersionRow(artifact, artifact.id ?? timeOrderedId()));
    if (staged) return { op: "complete", stepRunId: completion.stepRunId, artifacts, outputs: completion.outputs, merged: staged.complete(completion) };
    const patch = patchOf("step_runs", STEP_RUN_PATCH_COLUMNS, completion.stepRunId, completionPatch(completion), completion.attempt);
    return { op: "complete", stepRunId: completion.stepRunId, artifacts, outputs: completion.outputs, patch: patch && { op: "patch", ...patch } };
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
    const written = this.enqueue<ArtifactVersionRecord>({
      op: "output",
      artifact: row,
      link: {
        stepRunId: link.stepRunId,
        artifactVersionId: row ? row.id : link.artifactVersionId,
        outputName: link.outputName,
        mappingKey: link.mappingKey,
        position: link.position,
      },
    });
    this.cacheEffects.stepRunWritten(link.stepRunId);
    return written;
  }

  /** Refuses completed and cached step runs: resetting would drop outputs other steps may use. */
  async resetStepRun(id: string): Promise<void> {
    // Writes after this one are statements of their own, applied after the reset.
    this.staged.delete(id);
    const written = this.enqueue<void>({ op: "resetStepRun", id });
    this.cacheEffects.stepRunWritten(id);
    await written;
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
    return (await this.findCacheHitRecords(cacheKey))?.original;
  }

  async findCacheHitRecords(cacheKey: string): Promise<CacheHitRecords | undefined> {
    // The rules of findCachedStepRun, listStepOutputs and getArtifactVersion together: from what
    // is committed, unless a queued write could change the step run, its outputs or a version.
    if (this.cacheEffects.mayAddMatch(cacheKey) || this.cacheEffects.mayRemove()) await this.batcher.queuedSettled();
    let rows = this.sql.findCacheHit.all(cacheKey) as CacheHitRow[];
    if (cacheHitMayBeQueued(rows, this.cacheEffects)) {
      await this.batcher.queuedSettled();
      rows = this.sql.findCacheHit.all(cacheKey) as CacheHitRow[];
    }
    return rows.length === 0 ? undefined : cacheHitRecordsOf(rows);
  }

  // Artifacts and lineage

  async createArtifactVersion(artifact: NewArtifactVersion): Promise<ArtifactVersionRecord> {
    return this.enqueue({ op: "artifactVersion", row: artifactVersionRow(artifact, artifact.id ?? timeOrderedId()) });
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord | undefined> {
    // A version never changes once written: one on record is the answer unless a queued deletion
    // could remove it; one not on record yet may be queued (see QueuedCacheEffects).
    let row = this.cacheEffects.mayRemove() ? undefined : (this.sql.getArtifactVersion.get(id) as ArtifactVersionRow | undefined);
    if (!row) {
      await this.batcher.queuedSettled();
      row = this.sql.getArtifactVersion.get(id) as ArtifactVersionRow | undefined;
    }
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
    await this.enqueue(inputsOp(links));
  }

  async listStepInputs(stepRunId: string): Promise<StepInputLink[]> {
    return (this.reader.listStepInputs.all(stepRunId) as StepInputRow[]).map(toStepInputLink);
  }

  async listStepOutputs(stepRunId: string): Promise<StepOutputLink[]> {
    // Without queued writes to the step run, what is committed is the answer (see QueuedCacheEffects).
    if (this.cacheEffects.mayChange(stepRunId)) await this.batcher.queuedSettled();
    return (this.sql.listStepOutputs.all(stepRunId) as StepOutputRow[]).map(toStepOutputLink);
  }

  // Logs

  async saveStepTask(stepRunId: string, attempt: number, task: unknown): Promise<void> {
    await this.enqueue({ op: "task", stepRunId, attempt, task: toJson(task) });
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
    await this.enqueue({ op: "logs", rows });
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
    return this.enqueue({ op: "saveStack", name, createdAt, components });
  }

  async getStack(name: string): Promise<StackRecord | undefined> {
    return readStack(this.reader, name);
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
    return this.enqueue({ op: "deleteStack", name });
  }

  async getComponent(id: string): Promise<ComponentRecord | undefined> {
    const row = this.reader.getComponent.get(id) as MemberRow | undefined;
    return row && toComponentRecord(row);
  }

  async listComponents(): Promise<ComponentRecord[]> {
    return (this.reader.listComponents.all() as MemberRow[]).map(toComponentRecord);
  }

  async setActiveStack(name: string): Promise<void> {
    await this.enqueue({ op: "setActiveStack", name });
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

/** The outcome of a StepRunWriter completion: a fenced one (false) is reported to its `ignored`. */
function whenIgnored(applied: unknown, context: unknown): void {
  if (applied !== false) return;
  const { completion, ignored } = context as { completion: StepCompletion; ignored: (completion: StepCompletion) => void };
  ignored(completion);
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
