/**
 * The team metadata store: one PostgreSQL database shared by every machine (`pg` Pool),
 * on the same migrations and row mapping as SQLite (sql/rows.ts).
 *
 * Writes go through the WriteBatcher (write-batcher.ts: call order, visibility, failing
 * writes isolated) with one batch in flight while the next accumulates; each batch is one
 * transaction of a few multi-row statements (batch.ts, writes.ts). Every batch starts by
 * taking its change sequence numbers from a counter row, which also queues concurrent
 * writers' batches one after the other: no deadlocks, no lost updates, and sequence
 * numbers that grow in commit order (a reader's cursor never skips a change).
 */
import { userInfo } from "node:os";
import pg from "pg";
import { timeOrderedId } from "../../../ids.js";
import { StoreUnavailableError } from "../errors.js";
import { pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from "../migrations.js";
import { redact, type VersionedStore } from "../open.js";
import { ScheduleError } from "../../../authoring/errors.js";
import { SCHEDULE_COLUMNS, SCHEDULE_PATCH_COLUMNS, scheduleInsertValues, toScheduleRecord, type ScheduleRow } from "../schedule-rows.js";
import {
  artifactVersionRow,
  CACHE_HIT_OUTPUTS_SELECT,
  cacheHitMayBeQueued,
  cacheHitRecordsOf,
  type CacheHitRow,
  outputArtifactIds,
  patchOf,
  completionPatch,
  RUN_PATCH_COLUMNS,
  newRunRecord,
  newSnapshotRecord,
  runFilterParams,
  STEP_RUN_PATCH_COLUMNS,
  STEP_RUN_SELECT_COLUMNS,
  stepConfigurationRow,
  summarize,
  toArtifactVersionRecord,
  toComponentRecord,
  toJson,
  toLogLine,
  toRunRecord,
  toSnapshotRecord,
  toStepConfigurationRecord,
  configurationsOfSnapshot,
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
import type {
  NewSchedule,
  SchedulePatch,
  ScheduleRecord,
  ArtifactVersionRecord,
  CacheHitRecords,
  ComponentRecord,
  LogLine,
  NewArtifactVersion,
  NewRun,
  NewSnapshot,
  NewStepConfiguration,
  NewStepRun,
  RunFilter,
  RunPatch,
  RunRecord,
  RunSummary,
  SnapshotRecord,
  StackRecord,
  StepCompletion,
  StepConfigurationRecord,
  StepInputLink,
  StepOutputLink,
  StepRunPatch,
  StepRunRecord,
} from "../types.js";
import { QueuedCacheEffects } from "../queued-cache-effects.js";
import { WriteBatcher } from "../write-batcher.js";
import { StepRunInsert } from "../sql/step-run-insert.js";
import { commitBatch, type BatchProgress, type PgWrite, type SeqSource } from "./batch.js";
import * as w from "./writes.js";

const ACTIVE_STACK_KEY = "active_stack";

/** Tries to send a batch whose connection was lost before its COMMIT, and the pause before each try (× the try). */
const RECONNECT_ATTEMPTS = 4;
const RECONNECT_DELAY_MS = 100;

/**
 * Most writes one batch holds. Rows travel as one array per column, so the size is bounded
 * by memory and by how much a batch-level failure rejects, not by PostgreSQL's parameter limit.
 */
const MAX_BATCH = 4096;

/** Most step tasks one read of getStepTask asks for. */
const MAX_TASK_READ = 1024;

/** BIGINT (times, sizes, seq) and COUNT(*) come back as numbers, as the interface promises (they stay below 2^53). */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

const RUN_SELECT = `SELECT r.*, p.name AS pipeline_name FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id`;
const RUN_FILTER = `($1::text IS NULL OR p.name = $1) AND ($2::text IS NULL OR r.status = $2)
  AND ($3::text IS NULL OR r.name = $3) AND ($4::text IS NULL OR left(r.id, length($4)) = $4)
  AND ($7::text IS NULL OR r.schedule_name = $7)`;
const RUN_ORDER = `ORDER BY r.created_at DESC, r.id DESC`;
const ARTIFACT_VERSION_SELECT = `SELECT v.* FROM artifact_versions v`;
const MEMBER_SELECT = `SELECT m.stack_name, c.id, c.type, c.name, c.flavor, c.config
  FROM stack_members m JOIN stack_components c ON c.id = m.component_id`;
const PIPELINE_ID = `INSERT INTO pipelines (id, name, created_at) VALUES ($1, $2, $3)
  ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`;

/**
 * Connection settings from the URL. Like libpq (psql), a URL without a user connects as
 * PGUSER or the operating-system user; node-postgres alone would send none when USER is unset.
 */
export function connectionOptions(url: string): pg.ClientConfig {
  const hasUser = /^[a-z]+:\/\/[^/@]+@/i.test(url);
  // The URL's own fields override separate settings in node-postgres, so the user goes into the URL.
  const user = encodeURIComponent(process.env.PGUSER ?? userInfo().username);
  return { connectionString: hasUser ? url : url.replace(/^([a-z]+:\/\/)/i, `$1${user}@`) };
}

/** Connection-level failures: the server went away or cannot be reached. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return /^(08|57P0[1-3])|^E(CONNREFUSED|CONNRESET|PIPE|HOSTUNREACH|TIMEDOUT|NOTFOUND)$/.test(code);
  return (
    error instanceof Error &&
    /Connection terminated|connection is closed|Client was closed|connection error and is not queryable/i.test(error.message)
  );
}

/** The newest completed step run of each key that `keyCondition` selects, with its outputs and their versions (CacheHitRow). */
function cacheHitSql(keyCondition: string): string {
  return `WITH hit AS (SELECT DISTINCT ON (cache_key) ${STEP_RUN_SELECT_COLUMNS} FROM step_runs
                       WHERE ${keyCondition} AND status = 'completed' ORDER BY cache_key, created_at DESC, id DESC)
          SELECT hit.*, ${CACHE_HIT_OUTPUTS_SELECT}
          ORDER BY hit.cache_key, o.position, o.output_name COLLATE "C"`;
}

export class PostgresMetadataStore implements VersionedStore {
  readonly dialect = "postgres";
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly batcher: WriteBatcher<PgWrite>;
  /** Queued step-run writes that could change a cache lookup's answer (lookups read committed state otherwise). */
  private readonly cacheEffects: QueuedCacheEffects;
  /** Cache lookups waiting for this turn's query (findCacheHitRecords). */
  private cacheHitReads: { cacheKey: string; resolve(rows: CacheHitRow[]): void; reject(error: unknown): void }[] = [];
  private cacheHitTurn: NodeJS.Immediate | undefined;
  /** getStepTask calls waiting for the next read of tasks, by step run id. */
  private readonly taskReads = new Map<string, { resolve(task: { attempt: number; task: unknown } | undefined): void; reject(error: unknown): void }[]>();
  private readingTasks: Promise<void> | undefined;

  constructor(url: string) {
    this.location = redact(url);
    // Writes use one connection at a time (one batch in flight); reads use the others.
    this.pool = new pg.Pool({ ...connectionOptions(url), max: 4, types });
    // An idle connection the server dropped (restart, pg_terminate_backend) is replaced on next use.
    this.pool.on("error", () => undefined);
    // A connection dropped while in use fails its query (handled there); the client's
    // 'error' event must not crash the process as well.
    this.pool.on("connect", (client) => client.on("error", () => undefined));
    this.batcher = new WriteBatcher<PgWrite>({ apply: (batch) => this.commit(batch) }, { maxBatch: MAX_BATCH });
    this.cacheEffects = new QueuedCacheEffects(this.batcher);
  }

  /** Errors of the connection name the store and what to do. */
  private explain(error: unknown): unknown {
    if (!isConnectionError(error)) return error;
    return new StoreUnavailableError(
      `Lost the connection to the metadata store ${this.location} (${(error as Error).message}). ` +
        `Check that PostgreSQL is running and reachable, then resume the run (\`weir runs resume RUN\`).`,
      { cause: error },
    );
  }

  /**
   * Commits a batch on a pooled connection. A connection lost before COMMIT was sent left
   * nothing on record, so the batch is sent again on a new one (the pool reconnects); lost
   * during COMMIT, the outcome is unknown and the batch fails with an error naming the store.
   */
  private async commit(batch: readonly PgWrite[]) {
    for (let attempt = 1; ; attempt++) {
      const progress: BatchProgress = { committing: false };
      let client: pg.PoolClient | undefined;
      try {
        client = await this.pool.connect();
        const outcomes = await commitBatch(client, batch, begin, progress);
        client.release();
        return outcomes;
      } catch (error) {
        // A client whose connection broke must not go back to the pool.
        client?.release(isConnectionError(error) ? (error as Error) : undefined);
        if (!isConnectionError(error) || progress.committing || attempt >= RECONNECT_ATTEMPTS) throw this.explain(error);
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS * attempt));
      }
    }
  }

  private enqueue<T>(write: PgWrite): Promise<T> {
    return this.batcher.enqueue<T>(write);
  }

  /** Reads see every write made before them, awaited or not. */
  private async query<Row extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<Row[]> {
    await this.batcher.barrier();
    return this.queryCommitted<Row>(sql, params);
  }

  /** A read of what is committed now, whatever is queued (the caller knows the queue cannot change its answer). */
  private async queryCommitted<Row extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<Row[]> {
    // A read changes nothing: on a dropped connection it is simply asked again on a new one.
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.pool.query<Row>(sql, params)).rows;
      } catch (error) {
        if (!isConnectionError(error) || attempt >= RECONNECT_ATTEMPTS) throw this.explain(error);
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS * attempt));
      }
    }
  }

  async migrate(): Promise<void> {
    await this.batcher.barrier();
    const client = await this.pool.connect().catch((error: unknown) => {
      throw this.explain(error);
    });
    try {
      await client.query("BEGIN");
      // Two processes migrating a new database at once: the second waits, then finds nothing to do.
      await client.query("SELECT pg_advisory_xact_lock(7424365)");
      await client.query(SCHEMA_MIGRATIONS_TABLE);
      const applied = (await client.query<{ version: number }>(`SELECT version FROM schema_migrations`)).rows;
      for (const migration of pendingMigrations(applied.map((row) => row.version), this.location)) {
        for (const statement of migration.up("postgres")) await client.query(statement);
        await client.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          Date.now(),
        ]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw this.explain(error);
    } finally {
      client.release();
    }
  }

  async schemaVersion(): Promise<number> {
    const [table] = await this.query<{ exists: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`);
    if (!table.exists) return 0;
    const [row] = await this.query<{ version: number | null }>(`SELECT MAX(version) AS version FROM schema_migrations`);
    return row.version ?? 0;
  }

  async close(): Promise<void> {
    try {
      await this.batcher.close();
      await this.readingTasks;
    } finally {
      await this.pool.end();
    }
  }

  // Snapshots and step configurations

  async createSnapshot(snapshot: NewSnapshot): Promise<SnapshotRecord> {
    const createdAt = Date.now();
    const id = timeOrderedId();
    const values = [snapshot.isDynamic ? 1 : 0, toJson(snapshot.parameters), toJson(snapshot.source), toJson(snapshot.spec)];
    return this.enqueue(
      w.single("create snapshot", [id], 0, async (db): Promise<SnapshotRecord> => {
        const pipelineId = (await db.query<{ id: string }>(PIPELINE_ID, [timeOrderedId(), snapshot.pipelineName, createdAt]))
          .rows[0].id;
        await db.query(
          `INSERT INTO pipeline_snapshots (id, pipeline_id, is_dynamic, parameters, source, spec, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [id, pipelineId, ...values, createdAt],
        );
        return newSnapshotRecord(snapshot, id, pipelineId, createdAt);
      }),
    );
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    const [row] = await this.query<SnapshotRow>(
      `SELECT s.*, p.name AS pipeline_name FROM pipeline_snapshots s JOIN pipelines p ON p.id = s.pipeline_id WHERE s.id = $1`,
      [id],
    );
    return row && toSnapshotRecord(row);
  }

  async createStepConfigurations(configs: NewStepConfiguration[]): Promise<void> {
    await this.enqueue(w.createStepConfigurations(configs.map(stepConfigurationRow)));
  }

  async listStepConfigurations(owner: { snapshotId: string } | { stepRunId: string }): Promise<StepConfigurationRecord[]> {
    const [column, id] = "snapshotId" in owner ? ["snapshot_id", owner.snapshotId] : ["step_run_id", owner.stepRunId];
    // A dynamic run's step configuration is a column of its step run (schema 5); older ones are rows.
    const ofStepRun =
      column === "step_run_id"
        ? `SELECT id, NULL AS snapshot_id, id AS step_run_id, invocation_id, step_name, configuration AS config
             FROM step_runs WHERE id = $1 AND configuration IS NOT NULL UNION ALL `
        : "";
    const rows = await this.query<StepConfigurationRow>(
      `SELECT * FROM (${ofStepRun}SELECT id, snapshot_id, step_run_id, invocation_id, step_name, config
                      FROM step_configurations WHERE ${column} = $1) c
       ORDER BY invocation_id COLLATE "C", id COLLATE "C"`,
      [id],
    );
    // A static snapshot's configurations are its spec's steps (rows only for older snapshots).
    if (rows.length === 0 && "snapshotId" in owner) return configurationsOfSnapshot(await this.getSnapshot(owner.snapshotId));
    return rows.map(toStepConfigurationRecord);
  }

  // Runs

  async createRun(run: NewRun): Promise<RunRecord> {
    const record = newRunRecord(run, run.id ?? timeOrderedId());
    const { createdAt } = record;
    return this.enqueue(
      w.single("create run", [record.id], 1, async (db, seq): Promise<RunRecord> => {
        const pipelineId = (await db.query<{ id: string }>(PIPELINE_ID, [timeOrderedId(), run.pipelineName, createdAt])).rows[0]
          .id;
        record.seq = seq.next();
        await db.query(
          `INSERT INTO pipeline_runs (id, name, pipeline_id, snapshot_id, stack_name, is_dynamic, status, created_at,
             started_at, output, enable_cache, heartbeat_at, owner, seq, schedule_name, scheduled_for)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'null', $10, $11, $12, $13, $14, $15)`,
          [
            record.id,
            record.name,
            pipelineId,
            record.snapshotId,
            record.stackName,
            record.isDynamic ? 1 : 0,
            record.status,
            createdAt,
            record.startedAt,
            record.enableCache ? 1 : 0,
            record.heartbeatAt,
            record.owner,
            record.seq,
            record.scheduleName,
            record.scheduledFor,
          ],
        );
        return record;
      }),
    );
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    const prepared = patchOf("pipeline_runs", RUN_PATCH_COLUMNS, id, patch);
    if (prepared) await this.enqueue(w.update(prepared));
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const [row] = await this.query<RunRow>(`${RUN_SELECT} WHERE r.id = $1`, [id]);
    return row && toRunRecord(row);
  }

  private filterParams(filter: RunFilter): unknown[] {
    const p = runFilterParams(filter);
    return [p.pipelineName, p.status, p.name, p.idPrefix, p.limit < 0 ? null : p.limit, p.offset, p.scheduleName];
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const rows = await this.query<RunRow>(`${RUN_SELECT} WHERE ${RUN_FILTER} ${RUN_ORDER} LIMIT $5 OFFSET $6`, this.filterParams(filter));
    return rows.map(toRunRecord);
  }

  async listRunSummaries(filter: RunFilter = {}): Promise<RunSummary[]> {
    const rows = await this.query<RunRow & StepCountColumns>(
      `WITH page AS (${RUN_SELECT} WHERE ${RUN_FILTER} ${RUN_ORDER} LIMIT $5 OFFSET $6)
       SELECT page.*, c.status AS step_status, c.n AS step_count FROM page
       LEFT JOIN (SELECT run_id, status, COUNT(*) AS n FROM step_runs
                  WHERE run_id IN (SELECT id FROM page) GROUP BY run_id, status) c ON c.run_id = page.id
       ORDER BY page.created_at DESC, page.id DESC`,
      this.filterParams(filter),
    );
    return summarize(rows, toRunRecord);
  }

  async findRuns(query: { name?: string; idPrefix?: string; idSuffix?: string }): Promise<RunRecord[]> {
    const rows = await this.query<RunRow>(
      `${RUN_SELECT} WHERE ($1::text IS NULL OR r.name = $1) AND ($2::text IS NULL OR left(r.id, length($2)) = $2)
         AND ($3::text IS NULL OR right(r.id, length($3)) = $3) ${RUN_ORDER}`,
      [query.name ?? null, query.idPrefix ?? null, query.idSuffix ?? null],
    );
    return rows.map(toRunRecord);
  }

  async claimRun(runId: string, owner: string, staleBeforeMs: number): Promise<boolean> {
    const now = Date.now();
    return this.enqueue(
      w.single("claim run", [runId], 1, async (db, seq) => {
        const claimed = await db.query(
          `UPDATE pipeline_runs SET owner = $2, heartbeat_at = $3, seq = $5
           WHERE id = $1 AND (owner IS NULL OR owner = $2 OR heartbeat_at IS NULL OR heartbeat_at < $4)`,
          [runId, owner, now, staleBeforeMs, seq.next()],
        );
        if (claimed.rowCount === 1) return true;
        const exists = await db.query(`SELECT 1 FROM pipeline_runs WHERE id = $1`, [runId]);
        if (exists.rowCount === 0) throw new Error(`claimRun: unknown run ${runId}`);
        return false;
      }),
    );
  }

  async deleteRun(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }> {
    const deleted = this.deleteRunWrite(runId);
    this.cacheEffects.stepRunsRemoved();
    return deleted;
  }

  private deleteRunWrite(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }> {
    return this.enqueue(
      w.single("delete run", ["*"], 0, async (db) => {
        const run = (await db.query<RunRow>(`SELECT * FROM pipeline_runs WHERE id = $1 FOR UPDATE`, [runId])).rows[0];
        if (!run) throw new Error(`deleteRun: unknown run ${runId}`);
        const linked = await db.query<{ id: string }>(
          `SELECT artifact_version_id AS id FROM step_run_outputs o JOIN step_runs s ON s.id = o.step_run_id WHERE s.run_id = $1
           UNION SELECT artifact_version_id FROM step_run_inputs i JOIN step_runs s ON s.id = i.step_run_id WHERE s.run_id = $1`,
          [runId],
        );
        const candidates = [...new Set([...linked.rows.map((r) => r.id), ...outputArtifactIds(JSON.parse(run.output))])];
        // Step runs, their links, configurations and tasks, and the run's logs go with the run (ON DELETE CASCADE).
        await db.query(`DELETE FROM pipeline_runs WHERE id = $1`, [runId]);
        await db.query(
          `DELETE FROM pipeline_snapshots WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM pipeline_runs WHERE snapshot_id = $1)`,
          [run.snapshot_id],
        );
        const deleted = await db.query<{ uri: string; artifact_store_id: string | null }>(
          `DELETE FROM artifact_versions v WHERE v.id = ANY($1::text[])
             AND NOT EXISTS (SELECT 1 FROM step_run_outputs WHERE artifact_version_id = v.id)
             AND NOT EXISTS (SELECT 1 FROM step_run_inputs WHERE artifact_version_id = v.id)
           RETURNING uri, artifact_store_id`,
          [candidates],
        );
        return { artifactUris: deleted.rows.map((r) => ({ uri: r.uri, artifactStoreId: r.artifact_store_id })) };
      }),
    );
  }

  // Step runs

  async createStepRun(stepRun: NewStepRun): Promise<StepRunRecord> {
    const insert = new StepRunInsert(stepRun);
    // The record as created; the write sets its seq.
    const record = { ...insert.record };
    return this.enqueue(
      w.createStepRun(insert, (seq) => {
        record.seq = seq;
        return record;
      }),
    );
  }

  async updateStepRun(id: string, patch: StepRunPatch): Promise<void> {
    const prepared = patchOf("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
    if (!prepared) return;
    const written = this.enqueue<void>(w.update(prepared));
    this.cacheEffects.stepRunWritten(id, patch);
    await written;
  }

  async completeStepRun(completion: StepCompletion): Promise<boolean> {
    const patch = patchOf("step_runs", STEP_RUN_PATCH_COLUMNS, completion.stepRunId, completionPatch(completion), completion.attempt)!;
    const written = this.enqueue<boolean>(
      w.complete({
        patch,
        artifacts: completion.newArtifacts.map((a) => artifactVersionRow(a, a.id ?? timeOrderedId())),
        outputs: completion.outputs.map((o) => ({ ...o, stepRunId: completion.stepRunId })),
      }),
    );
    this.cacheEffects.stepRunWritten(completion.stepRunId, completion);
    return written;
  }

  async addStepOutput(artifact: NewArtifactVersion | null, link: StepOutputLink): Promise<ArtifactVersionRecord> {
    if (artifact?.id && link.artifactVersionId && artifact.id !== link.artifactVersionId) {
      throw new Error(`addStepOutput: artifact id ${artifact.id} and link artifactVersionId ${link.artifactVersionId} differ`);
    }
    const row = artifact && artifactVersionRow(artifact, artifact.id || link.artifactVersionId || timeOrderedId());
    const written = this.enqueue<ArtifactVersionRecord>(
      w.addStepOutput({ artifact: row, link: { ...link, artifactVersionId: row ? row.id : link.artifactVersionId } }),
    );
    this.cacheEffects.stepRunWritten(link.stepRunId);
    return written;
  }

  /** Refuses completed and cached step runs, in the same statement that resets (safe with several writers). */
  async resetStepRun(id: string): Promise<void> {
    const written = this.resetStepRunWrite(id);
    this.cacheEffects.stepRunWritten(id);
    await written;
  }

  private resetStepRunWrite(id: string): Promise<void> {
    return this.enqueue(
      w.single("reset step run", [id, `outputs:${id}`], 1, async (db, seq: SeqSource) => {
        const reset = await db.query(
          `UPDATE step_runs SET status = 'pending', error = NULL, ended_at = NULL, seq = $2
           WHERE id = $1 AND status NOT IN ('completed', 'cached')`,
          [id, seq.next()],
        );
        if (reset.rowCount === 0) {
          const row = (await db.query<{ status: string }>(`SELECT status FROM step_runs WHERE id = $1`, [id])).rows[0];
          throw new Error(row ? `resetStepRun: step run ${id} is ${row.status}` : `resetStepRun: unknown step run ${id}`);
        }
        await db.query(`DELETE FROM step_run_outputs WHERE step_run_id = $1`, [id]);
      }),
    );
  }

  async getStepRun(id: string): Promise<StepRunRecord | undefined> {
    const [row] = await this.query<StepRunRow>(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE id = $1`, [id]);
    return row && toStepRunRecord(row);
  }

  async findStepRun(runId: string, invocationId: string): Promise<StepRunRecord | undefined> {
    const [row] = await this.query<StepRunRow>(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = $1 AND invocation_id = $2`, [
      runId,
      invocationId,
    ]);
    return row && toStepRunRecord(row);
  }

  async listStepRuns(runId: string): Promise<StepRunRecord[]> {
    const rows = await this.query<StepRunRow>(
      `SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = $1 ORDER BY position, created_at, id COLLATE "C"`,
      [runId],
    );
    return rows.map(toStepRunRecord);
  }

  async listStepRunChanges(runId: string, afterSeq: number, limit?: number): Promise<{ stepRuns: StepRunRecord[]; seq: number }> {
    const rows = await this.query<StepRunRow>(`SELECT ${STEP_RUN_SELECT_COLUMNS} FROM step_runs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [
      runId,
      afterSeq,
      limit ?? null,
    ]);
    const stepRuns = rows.map(toStepRunRecord);
    return { stepRuns, seq: stepRuns.length > 0 ? stepRuns[stepRuns.length - 1].seq : afterSeq };
  }

  async findCachedStepRun(cacheKey: string): Promise<StepRunRecord | undefined> {
    return (await this.findCacheHitRecords(cacheKey))?.original;
  }

  /**
   * With the cache on, every step looks its key up before it runs. Two things keep that from
   * costing a round trip and a batch per step: the lookup reads what is committed unless a
   * queued write could change its answer (QueuedCacheEffects: the rules of findCachedStepRun,
   * listStepOutputs and getArtifactVersion together; a barrier would send a batch per lookup),
   * and the lookups asked for in one turn go out as one query, a hit's outputs and versions
   * with it.
   */
  async findCacheHitRecords(cacheKey: string): Promise<CacheHitRecords | undefined> {
    if (this.cacheEffects.mayAddMatch(cacheKey) || this.cacheEffects.mayRemove()) await this.batcher.queuedSettled();
    let rows = await new Promise<CacheHitRow[]>((resolve, reject) => {
      this.cacheHitReads.push({ cacheKey, resolve, reject });
      this.cacheHitTurn ??= setImmediate(this.readCacheHits);
    });
    if (cacheHitMayBeQueued(rows, this.cacheEffects)) {
      await this.batcher.queuedSettled();
      rows = await this.queryCommitted<CacheHitRow>(cacheHitSql("cache_key = $1"), [cacheKey]);
    }
    return rows.length === 0 ? undefined : cacheHitRecordsOf(rows);
  }

  /** The cache hits of every key asked for in this turn, in one query. */
  private readonly readCacheHits = (): void => {
    const reads = this.cacheHitReads;
    this.cacheHitReads = [];
    this.cacheHitTurn = undefined;
    const keys = [...new Set(reads.map((read) => read.cacheKey))];
    this.queryCommitted<CacheHitRow>(cacheHitSql("cache_key = ANY($1::text[])"), [keys]).then(
      (rows) => {
        const byKey = new Map<string, CacheHitRow[]>();
        for (const row of rows) {
          let ofKey = byKey.get(row.cache_key!);
          if (!ofKey) byKey.set(row.cache_key!, (ofKey = []));
          ofKey.push(row);
        }
        for (const read of reads) read.resolve(byKey.get(read.cacheKey) ?? []);
      },
      (error: unknown) => {
        for (const read of reads) read.reject(error);
      },
    );
  };

  // Artifacts and lineage

  async createArtifactVersion(artifact: NewArtifactVersion): Promise<ArtifactVersionRecord> {
    return this.enqueue(w.createArtifactVersion(artifactVersionRow(artifact, artifact.id ?? timeOrderedId())));
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord | undefined> {
    // A version never changes once written: one on record is the answer unless a queued deletion
    // could remove it; one not on record yet may be queued (see QueuedCacheEffects).
    const sql = `${ARTIFACT_VERSION_SELECT} WHERE v.id = $1`;
    let [row] = this.cacheEffects.mayRemove() ? [] : await this.queryCommitted<ArtifactVersionRow>(sql, [id]);
    if (!row) [row] = await this.query<ArtifactVersionRow>(sql, [id]);
    return row && toArtifactVersionRecord(row);
  }

  async getArtifactVersionByName(artifactName: string, version?: number): Promise<ArtifactVersionRecord | undefined> {
    const [row] = await this.query<ArtifactVersionRow>(
      `${ARTIFACT_VERSION_SELECT} WHERE v.artifact_name = $1 AND ($2::int IS NULL OR v.version = $2) ORDER BY v.version DESC LIMIT 1`,
      [artifactName, version ?? null],
    );
    return row && toArtifactVersionRecord(row);
  }

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    const rows = await this.query<ArtifactVersionRow>(
      `${ARTIFACT_VERSION_SELECT} WHERE ($1::text IS NULL OR v.artifact_name = $1) ORDER BY v.created_at DESC, v.version DESC, v.id DESC LIMIT $2`,
      [filter.artifactName ?? null, filter.limit ?? null],
    );
    return rows.map(toArtifactVersionRecord);
  }

  async addStepInputs(links: StepInputLink[]): Promise<void> {
    if (links.length === 0) return;
    await this.enqueue(w.addStepInputs(links.map((l) => ({ ...l }))));
  }

  async listStepInputs(stepRunId: string): Promise<StepInputLink[]> {
    const rows = await this.query<StepInputRow>(
      `SELECT * FROM step_run_inputs WHERE step_run_id = $1 ORDER BY input_name COLLATE "C"`,
      [stepRunId],
    );
    return rows.map(toStepInputLink);
  }

  async listStepOutputs(stepRunId: string): Promise<StepOutputLink[]> {
    const sql = `SELECT * FROM step_run_outputs WHERE step_run_id = $1 ORDER BY position, output_name COLLATE "C"`;
    // Without queued writes to the step run, what is committed is the answer (see QueuedCacheEffects).
    const rows = this.cacheEffects.mayChange(stepRunId)
      ? await this.query<StepOutputRow>(sql, [stepRunId])
      : await this.queryCommitted<StepOutputRow>(sql, [stepRunId]);
    return rows.map(toStepOutputLink);
  }

  async saveStepTask(stepRunId: string, attempt: number, task: unknown): Promise<void> {
    await this.enqueue(w.saveStepTask({ stepRunId, attempt, task: toJson(task) }));
  }

  /**
   * A queue worker reads one task per job, for dozens of jobs at once: the reads of one
   * turn of the event loop (and those that arrive while a read is in flight) go to the
   * server as one `= ANY($1)` query instead of a round trip each.
   */
  getStepTask(stepRunId: string): Promise<{ attempt: number; task: unknown } | undefined> {
    return new Promise((resolve, reject) => {
      let waiters = this.taskReads.get(stepRunId);
      if (!waiters) this.taskReads.set(stepRunId, (waiters = []));
      waiters.push({ resolve, reject });
      if (!this.readingTasks) this.readingTasks = new Promise<void>((done) => setImmediate(done)).then(() => this.readTasks());
    });
  }

  private async readTasks(): Promise<void> {
    while (this.taskReads.size > 0) {
      const reads = [...this.taskReads].slice(0, MAX_TASK_READ);
      for (const [id] of reads) this.taskReads.delete(id);
      try {
        const rows = await this.query<{ step_run_id: string; attempt: number; task: string }>(
          `SELECT step_run_id, attempt, task FROM step_run_tasks WHERE step_run_id = ANY($1::text[])`,
          [reads.map(([id]) => id)],
        );
        const found = new Map(rows.map((row) => [row.step_run_id, row]));
        for (const [id, waiters] of reads) {
          const row = found.get(id);
          // Each caller gets a task of its own (a caller may change it).
          for (const waiter of waiters) waiter.resolve(row && { attempt: row.attempt, task: JSON.parse(row.task) as unknown });
        }
      } catch (error) {
        for (const [, waiters] of reads) for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.readingTasks = undefined;
  }

  // Logs

  async appendLogs(lines: LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.enqueue(
      w.appendLogs(lines.map((l) => ({ runId: l.runId, stepRunId: l.stepRunId, stream: l.stream, message: l.message, at: l.at }))),
    );
  }

  async listLogs(runId: string, options: { stepRunId?: string; afterId?: number } = {}): Promise<LogLine[]> {
    const rows = await this.query<LogRow>(
      `SELECT * FROM logs WHERE run_id = $1 AND id > $2 AND ($3::text IS NULL OR step_run_id = $3) ORDER BY id`,
      [runId, options.afterId ?? 0, options.stepRunId ?? null],
    );
    return rows.map(toLogLine);
  }

  // Stacks

  async saveStack(stack: { name: string; components: Omit<ComponentRecord, "id">[] }): Promise<StackRecord> {
    const createdAt = Date.now();
    const components = stack.components.map((c) => [timeOrderedId(), c.type, c.name, c.flavor, toJson(c.config)]);
    return this.enqueue(
      w.single("save stack", ["*"], 0, async (db): Promise<StackRecord> => {
        await db.query(`INSERT INTO stacks (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [
          stack.name,
          createdAt,
        ]);
        await db.query(`DELETE FROM stack_members WHERE stack_name = $1`, [stack.name]);
        for (const [position, component] of components.entries()) {
          const { id } = (
            await db.query<{ id: string }>(
              `INSERT INTO stack_components (id, type, name, flavor, config) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (type, name) DO UPDATE SET flavor = excluded.flavor, config = excluded.config RETURNING id`,
              component,
            )
          ).rows[0];
          await db.query(`INSERT INTO stack_members (stack_name, component_id, position) VALUES ($1, $2, $3)`, [
            stack.name,
            id,
            position,
          ]);
        }
        return (await readStack(db, stack.name))!;
      }),
    );
  }

  async getStack(name: string): Promise<StackRecord | undefined> {
    const [row] = await this.query<StackRow>(`SELECT * FROM stacks WHERE name = $1`, [name]);
    if (!row) return undefined;
    const members = await this.query<MemberRow>(`${MEMBER_SELECT} WHERE m.stack_name = $1 ORDER BY m.position`, [name]);
    return { name: row.name, components: members.map(toComponentRecord), createdAt: row.created_at };
  }

  async listStacks(): Promise<StackRecord[]> {
    const members = await this.query<MemberRow>(`${MEMBER_SELECT} ORDER BY m.stack_name COLLATE "C", m.position`);
    const stacks = await this.query<StackRow>(`SELECT * FROM stacks ORDER BY name COLLATE "C"`);
    const components = new Map<string, ComponentRecord[]>();
    for (const row of members) {
      let list = components.get(row.stack_name);
      if (!list) components.set(row.stack_name, (list = []));
      list.push(toComponentRecord(row));
    }
    return stacks.map((row) => ({ name: row.name, components: components.get(row.name) ?? [], createdAt: row.created_at }));
  }

  async getComponent(id: string): Promise<ComponentRecord | undefined> {
    const [row] = await this.query<MemberRow>(`SELECT * FROM stack_components WHERE id = $1`, [id]);
    return row && toComponentRecord(row);
  }

  async listComponents(): Promise<ComponentRecord[]> {
    const rows = await this.query<MemberRow>(`SELECT * FROM stack_components ORDER BY type COLLATE "C", name COLLATE "C"`);
    return rows.map(toComponentRecord);
  }

  async setActiveStack(name: string): Promise<void> {
    await this.enqueue(
      w.single("set active stack", ["*"], 0, async (db) => {
        const set = await db.query(
          `INSERT INTO settings (key, value) SELECT $1, name FROM stacks WHERE name = $2
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [ACTIVE_STACK_KEY, name],
        );
        if (set.rowCount === 0) throw new Error(`setActiveStack: unknown stack ${name}`);
      }),
    );
  }

  async getActiveStackName(): Promise<string | undefined> {
    const [row] = await this.query<{ value: string }>(`SELECT value FROM settings WHERE key = $1`, [ACTIVE_STACK_KEY]);
    return row?.value;
  }

  async deleteStack(name: string): Promise<boolean> {
    return this.enqueue(
      w.single("delete stack", ["*"], 0, async (db) => {
        await db.query(`DELETE FROM stack_members WHERE stack_name = $1`, [name]);
        // Component rows stay: runs and artifact versions keep referring to them.
        return ((await db.query(`DELETE FROM stacks WHERE name = $1`, [name])).rowCount ?? 0) > 0;
      }),
    );
  }

  async listArtifactVersionLinks(artifactVersionId: string): Promise<{ outputs: StepOutputLink[]; inputs: StepInputLink[] }> {
    const [outputs, inputs] = await Promise.all([
      this.query<StepOutputRow>(`SELECT * FROM step_run_outputs WHERE artifact_version_id = $1 ORDER BY step_run_id, position`, [artifactVersionId]),
      this.query<StepInputRow>(`SELECT * FROM step_run_inputs WHERE artifact_version_id = $1 ORDER BY step_run_id, input_name`, [artifactVersionId]),
    ]);
    return { outputs: outputs.map(toStepOutputLink), inputs: inputs.map(toStepInputLink) };
  }

  // Schedules: rare writes, queued in order with the rest (a claim is decided by its own statement)

  async createSchedule(schedule: NewSchedule): Promise<ScheduleRecord> {
    const values = scheduleInsertValues(timeOrderedId(), schedule, Date.now());
    try {
      await this.enqueue(
        w.single("create schedule", ["*"], 0, (db) =>
          db.query(`INSERT INTO schedules (${SCHEDULE_COLUMNS.join(", ")}) VALUES (${SCHEDULE_COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})`, values),
        ),
      );
    } catch (error) {
      if ((error as { code?: string }).code === "23505") {
        throw new ScheduleError(`a schedule named "${schedule.name}" already exists (weir schedule delete ${schedule.name} first)`);
      }
      throw error;
    }
    return (await this.getSchedule(schedule.name))!;
  }

  async getSchedule(name: string): Promise<ScheduleRecord | undefined> {
    const [row] = await this.query<ScheduleRow>(`SELECT * FROM schedules WHERE name = $1`, [name]);
    return row && toScheduleRecord(row);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return (await this.query<ScheduleRow>(`SELECT * FROM schedules ORDER BY name`)).map(toScheduleRecord);
  }

  async updateSchedule(name: string, patch: SchedulePatch): Promise<void> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined);
    if (entries.length === 0) return;
    const sets = entries.map(([field], i) => {
      const spec = SCHEDULE_PATCH_COLUMNS[field];
      if (!spec) throw new Error(`schedules: ${field} cannot be updated`);
      return `${spec.column} = $${i + 1}`;
    });
    const values = entries.map(([field, value]) => SCHEDULE_PATCH_COLUMNS[field].encode(value));
    const n = values.length;
    const changed = await this.enqueue<number>(
      w.single("update schedule", ["*"], 0, async (db) =>
        (await db.query(`UPDATE schedules SET ${sets.join(", ")}, updated_at = $${n + 1} WHERE name = $${n + 2}`, [...values, Date.now(), name]))
          .rowCount ?? 0,
      ),
    );
    if (changed === 0) throw new ScheduleError(`no schedule named "${name}" (see weir schedule list)`);
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return this.enqueue(
      w.single("delete schedule", ["*"], 0, async (db) => ((await db.query(`DELETE FROM schedules WHERE name = $1`, [name])).rowCount ?? 0) > 0),
    );
  }

  async claimScheduleTick(name: string, expected: number, next: number | null, lastFiredAt: number | null): Promise<boolean> {
    return this.enqueue(
      w.single("claim schedule tick", ["*"], 0, async (db) => {
        const result = await db.query(
          `UPDATE schedules SET next_fire_at = $1, last_fired_at = $2, updated_at = $3
           WHERE name = $4 AND paused = 0 AND next_fire_at = $5`,
          [next, lastFiredAt, Date.now(), name, expected],
        );
        return result.rowCount === 1;
      }),
    );
  }
}

async function readStack(db: pg.ClientBase, name: string): Promise<StackRecord | undefined> {
  const row = (await db.query<StackRow>(`SELECT * FROM stacks WHERE name = $1`, [name])).rows[0];
  if (!row) return undefined;
  const members = await db.query<MemberRow>(`${MEMBER_SELECT} WHERE m.stack_name = $1 ORDER BY m.position`, [name]);
  return { name: row.name, components: members.rows.map(toComponentRecord), createdAt: row.created_at };
}

/**
 * Starts a batch's transaction and reserves its change sequence numbers, in one round trip.
 * The counter row stays locked until the batch commits: concurrent writers' batches queue
 * on it, so numbers grow in commit order and no two batches lock rows in opposite orders.
 */
async function begin(db: pg.ClientBase, seqs: number): Promise<SeqSource> {
  const results = (await db.query(
    `BEGIN; UPDATE sequences SET value = value + ${Math.trunc(seqs)} WHERE name = 'changes' RETURNING value`,
  )) as unknown as pg.QueryResult<{ value: number }>[];
  const end = Number(results[1].rows[0].value);
  let next = end - seqs;
  return {
    next: () => {
      if (next >= end) throw new Error("a batch took more change sequence numbers than it reserved");
      return ++next;
    },
  };
}

/** Opens the PostgreSQL store at `url` and, unless told not to, brings its schema up to date. */
export async function openPostgresStore(url: string, options: { migrate?: boolean } = {}): Promise<PostgresMetadataStore> {
  const store = new PostgresMetadataStore(url);
  try {
    if (options.migrate ?? true) await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
