/**
 * The embedded metadata store: one SQLite file shared by every process of a weir project
 * (the engine, step child processes, the CLI).
 *
 * It sits on the per-step hot path, so every statement is prepared once and reused, and
 * writes that belong together run in one transaction. better-sqlite3 is synchronous; the
 * methods are `async` only because the interface also serves PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrations, SCHEMA_MIGRATIONS_TABLE } from "../migrations.js";
import type {
  ArtifactVersionRecord,
  ComponentRecord,
  LogLine,
  MetadataStore,
  NewArtifactVersion,
  NewRun,
  NewSnapshot,
  NewStepConfiguration,
  NewStepRun,
  RunFilter,
  RunPatch,
  RunRecord,
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
};

const JSON_PATCH_COLUMNS = new Set(["output", "metadata"]);

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
         heartbeat_at, owner)
       VALUES (@id, @name, @pipelineId, @snapshotId, @stackName, @isDynamic, @status,
         NULL, @createdAt, @startedAt, NULL, NULL, 'null', @enableCache, NULL, NULL, NULL)`,
    ),
    getRun: db.prepare(`${RUN_SELECT} WHERE r.id = ?`),
    listRuns: db.prepare(
      `${RUN_SELECT}
       WHERE (@pipelineName IS NULL OR p.name = @pipelineName) AND (@status IS NULL OR r.status = @status)
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

export class SqliteMetadataStore implements MetadataStore {
  readonly dialect = "sqlite";
  private readonly db: Database.Database;
  private prepared: Statements | undefined;
  /** Patch updates touch a varying set of columns: one statement per set, prepared on first use. */
  private readonly updateStatements = new Map<string, Database.Statement>();
  private readonly transaction: Database.Transaction<(work: () => unknown) => unknown>;

  constructor(options: { path: string }) {
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    // Set first: switching to WAL below already needs a lock another process may hold.
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("journal_mode = WAL");
    // With WAL, NORMAL skips the fsync per commit: a power cut may lose the last commits but
    // never corrupts the file, and a killed process loses nothing.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.transaction = this.db.transaction((work: () => unknown) => work());
  }

  private get sql(): Statements {
    return (this.prepared ??= prepareStatements(this.db));
  }

  /**
   * Runs `work` in a write transaction. IMMEDIATE takes the write lock up front, so a
   * transaction that reads before it writes waits (busy_timeout) for another process's
   * writer instead of failing with SQLITE_BUSY when it tries to upgrade its read.
   */
  private write<T>(work: () => T): T {
    return this.transaction.immediate(work) as T;
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
    this.db.close();
  }

  // Snapshots and step configurations

  async createSnapshot(snapshot: NewSnapshot): Promise<SnapshotRecord> {
    return this.write((): SnapshotRecord => {
      const createdAt = Date.now();
      const created: SnapshotRecord = {
        id: randomUUID(),
        pipelineId: this.pipelineId(snapshot.pipelineName, createdAt),
        pipelineName: snapshot.pipelineName,
        isDynamic: snapshot.isDynamic,
        parameters: snapshot.parameters,
        source: snapshot.source,
        spec: snapshot.spec,
        createdAt,
      };
      this.sql.insertSnapshot.run({
        ...created,
        isDynamic: created.isDynamic ? 1 : 0,
        parameters: toJson(created.parameters),
        source: toJson(created.source),
        spec: toJson(created.spec),
      });
      return created;
    });
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    const row = this.sql.getSnapshot.get(id) as SnapshotRow | undefined;
    return row && toSnapshotRecord(row);
  }

  async createStepConfigurations(configs: NewStepConfiguration[]): Promise<void> {
    // The owner check (exactly one of snapshot / step run) is left to the table's CHECK.
    this.write(() => {
      for (const config of configs) this.insertStepConfiguration(config);
    });
  }

  async listStepConfigurations(
    owner: { snapshotId: string } | { stepRunId: string },
  ): Promise<StepConfigurationRecord[]> {
    const rows =
      "snapshotId" in owner
        ? this.sql.stepConfigurationsBySnapshot.all(owner.snapshotId)
        : this.sql.stepConfigurationsByStepRun.all(owner.stepRunId);
    return (rows as StepConfigurationRow[]).map(toStepConfigurationRecord);
  }

  // Runs

  async createRun(run: NewRun): Promise<RunRecord> {
    return this.write((): RunRecord => {
      const createdAt = Date.now();
      const status = run.status ?? "initializing";
      const record: RunRecord = {
        id: run.id ?? randomUUID(),
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
        heartbeatAt: null,
        owner: null,
      };
      this.sql.insertRun.run({
        ...record,
        pipelineId: this.pipelineId(run.pipelineName, createdAt),
        isDynamic: record.isDynamic ? 1 : 0,
        enableCache: record.enableCache ? 1 : 0,
      });
      return record;
    });
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    this.update("pipeline_runs", RUN_PATCH_COLUMNS, id, patch);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.sql.getRun.get(id) as RunRow | undefined;
    return row && toRunRecord(row);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const rows = this.sql.listRuns.all({
      pipelineName: filter.pipelineName ?? null,
      status: filter.status ?? null,
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
    const record: StepRunRecord = {
      id: stepRun.id ?? randomUUID(),
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
    const row = { ...record, upstream: toJson(record.upstream), parameters: toJson(record.parameters) };
    const { configuration } = stepRun;
    if (configuration === undefined) {
      this.sql.insertStepRun.run(row);
    } else {
      this.write(() => {
        this.sql.insertStepRun.run(row);
        this.insertStepConfiguration({
          stepRunId: record.id,
          invocationId: record.invocationId,
          stepName: record.stepName,
          config: configuration,
        });
      });
    }
    return record;
  }

  async updateStepRun(id: string, patch: StepRunPatch): Promise<void> {
    this.update("step_runs", STEP_RUN_PATCH_COLUMNS, id, patch);
  }

  async completeStepRun(completion: StepCompletion): Promise<void> {
    this.write(() => {
      this.update("step_runs", STEP_RUN_PATCH_COLUMNS, completion.stepRunId, {
        status: completion.status,
        endedAt: completion.endedAt,
        cacheKey: completion.cacheKey,
        originalStepRunId: completion.originalStepRunId,
        metadata: completion.metadata,
      });
      for (const artifact of completion.newArtifacts) this.insertArtifactVersion(artifact, artifact.id ?? randomUUID());
      for (const output of completion.outputs) {
        this.sql.insertStepOutput.run({ ...output, stepRunId: completion.stepRunId });
      }
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
    return this.write((): ArtifactVersionRecord => {
      let version: ArtifactVersionRecord;
      if (artifact) {
        version = this.insertArtifactVersion(artifact, artifact.id || link.artifactVersionId || randomUUID());
      } else {
        const row = this.sql.getArtifactVersion.get(link.artifactVersionId) as ArtifactVersionRow | undefined;
        if (!row) throw new Error(`addStepOutput: unknown artifact version ${link.artifactVersionId}`);
        version = toArtifactVersionRecord(row);
      }
      this.sql.insertStepOutput.run({ ...link, artifactVersionId: version.id });
      return version;
    });
  }

  /** Refuses completed and cached step runs: resetting would drop outputs other steps may use. */
  async resetStepRun(id: string): Promise<void> {
    this.write(() => {
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
    const row = this.sql.getStepRun.get(id) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  async findStepRun(runId: string, invocationId: string): Promise<StepRunRecord | undefined> {
    const row = this.sql.findStepRun.get(runId, invocationId) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  async listStepRuns(runId: string): Promise<StepRunRecord[]> {
    return (this.sql.listStepRuns.all(runId) as StepRunRow[]).map(toStepRunRecord);
  }

  async findCachedStepRun(cacheKey: string): Promise<StepRunRecord | undefined> {
    const row = this.sql.findCachedStepRun.get(cacheKey) as StepRunRow | undefined;
    return row && toStepRunRecord(row);
  }

  // Artifacts and lineage

  async createArtifactVersion(artifact: NewArtifactVersion): Promise<ArtifactVersionRecord> {
    return this.write(() => this.insertArtifactVersion(artifact, artifact.id ?? randomUUID()));
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord | undefined> {
    const row = this.sql.getArtifactVersion.get(id) as ArtifactVersionRow | undefined;
    return row && toArtifactVersionRecord(row);
  }

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    const rows = this.sql.listArtifactVersions.all({
      artifactName: filter.artifactName ?? null,
      limit: filter.limit ?? -1,
    }) as ArtifactVersionRow[];
    return rows.map(toArtifactVersionRecord);
  }

  async addStepInputs(links: StepInputLink[]): Promise<void> {
    this.write(() => {
      for (const link of links) this.sql.insertStepInput.run(link);
    });
  }

  async listStepInputs(stepRunId: string): Promise<StepInputLink[]> {
    return (this.sql.listStepInputs.all(stepRunId) as StepInputRow[]).map(toStepInputLink);
  }

  async listStepOutputs(stepRunId: string): Promise<StepOutputLink[]> {
    return (this.sql.listStepOutputs.all(stepRunId) as StepOutputRow[]).map(toStepOutputLink);
  }

  // Logs

  async appendLogs(lines: LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    this.write(() => {
      for (const line of lines) this.sql.insertLog.run(line);
    });
  }

  async listLogs(runId: string, options: { stepRunId?: string; afterId?: number } = {}): Promise<LogLine[]> {
    const rows = this.sql.listLogs.all({
      runId,
      stepRunId: options.stepRunId ?? null,
      afterId: options.afterId ?? 0,
    }) as LogRow[];
    return rows.map(toLogLine);
  }

  // Stacks

  /** Replaces the stack's member list; a stack saved again keeps its original `createdAt`. */
  async saveStack(stack: { name: string; components: Omit<ComponentRecord, "id">[] }): Promise<StackRecord> {
    return this.write((): StackRecord => {
      this.sql.insertStack.run(stack.name, Date.now());
      this.sql.deleteStackMembers.run(stack.name);
      stack.components.forEach((component, position) => {
        const componentId = this.sql.upsertComponent.get({
          ...component,
          id: randomUUID(),
          config: toJson(component.config),
        }) as string;
        this.sql.insertStackMember.run(stack.name, componentId, position);
      });
      return this.readStack(stack.name)!;
    });
  }

  async getStack(name: string): Promise<StackRecord | undefined> {
    return this.readStack(name);
  }

  async listStacks(): Promise<StackRecord[]> {
    const components = new Map<string, ComponentRecord[]>();
    for (const row of this.sql.allStackMembers.all() as MemberRow[]) {
      let list = components.get(row.stack_name);
      if (!list) components.set(row.stack_name, (list = []));
      list.push(toComponentRecord(row));
    }
    return (this.sql.listStacks.all() as StackRow[]).map((row) => ({
      name: row.name,
      components: components.get(row.name) ?? [],
      createdAt: row.created_at,
    }));
  }

  async setActiveStack(name: string): Promise<void> {
    this.write(() => {
      if (!this.sql.getStack.get(name)) throw new Error(`setActiveStack: unknown stack ${name}`);
      this.sql.putSetting.run(ACTIVE_STACK_KEY, name);
    });
  }

  async getActiveStackName(): Promise<string | undefined> {
    return this.sql.getSetting.get(ACTIVE_STACK_KEY) as string | undefined;
  }

  // Helpers

  /** The pipeline's id, registering the pipeline on first sight. Call inside a write transaction. */
  private pipelineId(name: string, now: number): string {
    const existing = this.sql.pipelineIdByName.get(name) as string | undefined;
    if (existing) return existing;
    const id = randomUUID();
    this.sql.insertPipeline.run(id, name, now);
    return id;
  }

  private insertStepConfiguration(config: NewStepConfiguration): void {
    this.sql.insertStepConfiguration.run({
      id: randomUUID(),
      snapshotId: config.snapshotId ?? null,
      stepRunId: config.stepRunId ?? null,
      invocationId: config.invocationId,
      stepName: config.stepName,
      config: toJson(config.config),
    });
  }

  /**
   * Inserts an artifact version with the next version number of its name, registering the
   * name on first sight. Call inside a write transaction: the number is read, then used.
   */
  private insertArtifactVersion(artifact: NewArtifactVersion, id: string): ArtifactVersionRecord {
    const createdAt = Date.now();
    let artifactId = this.sql.artifactIdByName.get(artifact.artifactName) as string | undefined;
    if (!artifactId) {
      artifactId = randomUUID();
      this.sql.insertArtifact.run(artifactId, artifact.artifactName, createdAt);
    }
    const record: ArtifactVersionRecord = {
      id,
      artifactName: artifact.artifactName,
      version: this.sql.nextArtifactVersion.get(artifactId) as number,
      uri: artifact.uri,
      dataType: artifact.dataType,
      materializer: artifact.materializer,
      contentHash: artifact.contentHash,
      size: artifact.size,
      metadata: artifact.metadata ?? {},
      createdAt,
    };
    this.sql.insertArtifactVersion.run({ ...record, artifactId, metadata: toJson(record.metadata) });
    return record;
  }

  private readStack(name: string): StackRecord | undefined {
    const row = this.sql.getStack.get(name) as StackRow | undefined;
    if (!row) return undefined;
    const components = (this.sql.stackMembers.all(name) as MemberRow[]).map(toComponentRecord);
    return { name: row.name, components, createdAt: row.created_at };
  }

  /** Sets the patch's defined fields; throws if no row has this id. */
  private update(table: string, columnsByField: Record<string, string>, id: string, patch: object): void {
    const columns: string[] = [];
    const values: unknown[] = [];
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      if (!Object.hasOwn(columnsByField, field)) throw new Error(`${table}: ${field} cannot be updated`);
      const column = columnsByField[field];
      columns.push(column);
      values.push(JSON_PATCH_COLUMNS.has(column) ? toJson(value) : value);
    }
    if (columns.length === 0) return;
    const key = `${table}:${columns.join(",")}`;
    let statement = this.updateStatements.get(key);
    if (!statement) {
      statement = this.db.prepare(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`);
      this.updateStatements.set(key, statement);
    }
    if (statement.run(...values, id).changes === 0) throw new Error(`${table}: no row with id ${id}`);
  }
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
