/**
 * Rows of the shared schema (migrations.ts) and their records: one mapping for every SQL
 * backend, so that the backends differ only in how they run statements.
 */
import { timeOrderedId } from "../../../ids.js";
import type {
  ArtifactVersionRecord,
  CacheHitRecords,
  NewRun,
  NewSnapshot,
  NewArtifactVersion,
  NewStepConfiguration,
  ComponentRecord,
  LogLine,
  RunFilter,
  RunPatch,
  RunRecord,
  RunSummary,
  SnapshotRecord,
  StepConfigurationRecord,
  StepInputLink,
  StepOutputLink,
  StepCompletion,
  StepRunPatch,
  StepRunRecord,
  StepStatus,
} from "../types.js";

// Rows as both SQL backends return them: snake_case, JSON as text, booleans as 0/1,
// BIGINT as numbers (the PostgreSQL store installs a type parser for that).

export interface SnapshotRow {
  id: string;
  pipeline_id: string;
  pipeline_name: string;
  is_dynamic: number;
  parameters: string;
  source: string;
  spec: string;
  created_at: number;
}

export interface StepConfigurationRow {
  id: string;
  snapshot_id: string | null;
  step_run_id: string | null;
  invocation_id: string;
  step_name: string;
  config: string;
}

export interface RunRow {
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
  cancel_requested_at: number | null;
  seq: number;
  schedule_name: string | null;
  scheduled_for: number | null;
}

export interface StepRunRow {
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
  seq: number;
}

export interface ArtifactVersionRow {
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
  artifact_store_id: string | null;
}

/**
 * A cache hit's one read, after the step run's columns (from a CTE `hit`): each output link's
 * columns (o_) and its version's (v_), LEFT JOINed so a hit without outputs is one row.
 * Shared by both dialects.
 */
export const CACHE_HIT_OUTPUTS_SELECT = `o.artifact_version_id AS o_artifact_version_id, o.output_name AS o_output_name,
       o.mapping_key AS o_mapping_key, o.position AS o_position,
       v.id AS v_id, v.artifact_name AS v_artifact_name, v.version AS v_version, v.uri AS v_uri,
       v.data_type AS v_data_type, v.materializer AS v_materializer, v.content_hash AS v_content_hash,
       v.size AS v_size, v.metadata AS v_metadata, v.created_at AS v_created_at, v.artifact_store_id AS v_artifact_store_id
  FROM hit LEFT JOIN step_run_outputs o ON o.step_run_id = hit.id
           LEFT JOIN artifact_versions v ON v.id = o.artifact_version_id`;

/** A row of a cache hit's one read: the step run's columns, one output link's (o_) and its version's (v_); null where absent. */
export type CacheHitRow = StepRunRow & {
  o_artifact_version_id: string | null;
  o_output_name: string | null;
  o_mapping_key: string | null;
  o_position: number | null;
} & { [K in keyof ArtifactVersionRow as `v_${K}`]: ArtifactVersionRow[K] | null };

/**
 * Whether a queued write could change what a cache hit's committed rows say: a write to its
 * step run or outputs, or a link whose version is not on record yet (it may be queued).
 */
export function cacheHitMayBeQueued(rows: CacheHitRow[], effects: { mayChange(id: string): boolean }): boolean {
  return rows.length > 0 && (effects.mayChange(rows[0].id) || rows.some((r) => r.o_position !== null && r.v_id === null));
}

/** The records of a cache hit from the rows of its one read (at least one: the step run's). */
export function cacheHitRecordsOf(rows: CacheHitRow[]): CacheHitRecords {
  const original = toStepRunRecord(rows[0]);
  const outputs: CacheHitRecords["outputs"] = [];
  for (const r of rows) {
    if (r.o_position === null) continue; // the step run has no outputs
    const link = {
      stepRunId: original.id,
      artifactVersionId: r.o_artifact_version_id!,
      outputName: r.o_output_name!,
      mappingKey: r.o_mapping_key,
      position: r.o_position,
    };
    const version =
      r.v_id === null
        ? undefined
        : toArtifactVersionRecord({
            id: r.v_id,
            artifact_name: r.v_artifact_name!,
            version: r.v_version!,
            uri: r.v_uri!,
            data_type: r.v_data_type!,
            materializer: r.v_materializer!,
            content_hash: r.v_content_hash!,
            size: r.v_size!,
            metadata: r.v_metadata!,
            created_at: r.v_created_at!,
            artifact_store_id: r.v_artifact_store_id,
          });
    outputs.push({ link, version });
  }
  return { original, outputs };
}

export interface StepInputRow {
  step_run_id: string;
  artifact_version_id: string;
  input_name: string;
}

export interface StepOutputRow {
  step_run_id: string;
  artifact_version_id: string;
  output_name: string;
  mapping_key: string | null;
  position: number;
}

export interface LogRow {
  id: number;
  run_id: string;
  step_run_id: string | null;
  stream: LogLine["stream"];
  message: string;
  at: number;
}

export interface StackRow {
  name: string;
  created_at: number;
}

export interface MemberRow {
  stack_name: string;
  id: string;
  type: ComponentRecord["type"];
  name: string;
  flavor: string;
  config: string;
}


/**
 * The columns of a step-run record, for SELECTs: everything but the configuration, which
 * is read only by listStepConfigurations (it would be copied out with every row otherwise).
 */
export const STEP_RUN_SELECT_COLUMNS =
  "id, run_id, invocation_id, step_name, status, attempt, mapping_key, cache_key, original_step_run_id, position, upstream, " +
  "parameters, created_at, started_at, ended_at, error, metadata, seq";

/** Undefined (and anything else JSON cannot encode) is stored as JSON null. */
export function toJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

export function fromJson<T>(text: string): T {
  // Most step runs have no metadata, no upstream: skip the parser for those.
  if (text === "{}") return {} as T;
  if (text === "[]") return [] as T;
  return JSON.parse(text) as T;
}

export function toSnapshotRecord(row: SnapshotRow): SnapshotRecord {
  const record = {
    id: row.id,
    pipelineId: row.pipeline_id,
    pipelineName: row.pipeline_name,
    isDynamic: row.is_dynamic === 1,
    parameters: fromJson(row.parameters),
    source: fromJson(row.source),
    createdAt: row.created_at,
  } as SnapshotRecord;
  // A static snapshot's spec holds the whole compiled graph (megabytes at 10,000 steps) and
  // most readers never look at it: parsed on first read, then kept.
  let spec: unknown;
  let parsed = false;
  Object.defineProperty(record, "spec", {
    enumerable: true,
    configurable: true,
    get: () => {
      if (!parsed) {
        spec = fromJson(row.spec);
        parsed = true;
      }
      return spec;
    },
    set: (value: unknown) => {
      spec = value;
      parsed = true;
    },
  });
  return record;
}

export function toStepConfigurationRecord(row: StepConfigurationRow): StepConfigurationRecord {
  return {
    id: row.id,
    snapshotId: row.snapshot_id,
    stepRunId: row.step_run_id,
    invocationId: row.invocation_id,
    stepName: row.step_name,
    config: fromJson(row.config),
  };
}

/**
 * A static snapshot's step configurations, read from its spec: `steps` maps each invocation id
 * to the configuration the run uses, so the snapshot holds them without a row each (a row per
 * step repeated the spec: one more INSERT and three index entries per step, and the JSON
 * encoded twice). Snapshots written before that kept rows; readers use those when they exist.
 * Ordered as the rows are (by invocation id, code unit order).
 */
export function configurationsOfSnapshot(snapshot: SnapshotRecord | undefined): StepConfigurationRecord[] {
  if (!snapshot || snapshot.isDynamic) return [];
  const steps = (snapshot.spec as { steps?: Record<string, { stepName?: unknown }> } | null)?.steps ?? {};
  return Object.keys(steps)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((invocationId) => ({
      id: `${snapshot.id}/${invocationId}`,
      snapshotId: snapshot.id,
      stepRunId: null,
      invocationId,
      stepName: String(steps[invocationId].stepName ?? invocationId),
      config: steps[invocationId],
    }));
}

export function toRunRecord(row: RunRow): RunRecord {
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
    cancelRequestedAt: row.cancel_requested_at,
    seq: row.seq,
    scheduleName: row.schedule_name ?? null,
    scheduledFor: row.scheduled_for ?? null,
  };
}

/** The record of a snapshot as both stores create it. */
export function newSnapshotRecord(snapshot: NewSnapshot, id: string, pipelineId: string, createdAt: number): SnapshotRecord {
  return {
    id,
    pipelineId,
    pipelineName: snapshot.pipelineName,
    isDynamic: snapshot.isDynamic,
    parameters: snapshot.parameters,
    source: snapshot.source,
    spec: snapshot.spec,
    createdAt,
  };
}

/** The record of a run as both stores create it (`seq` is set when its write is applied). */
export function newRunRecord(run: NewRun, id: string, createdAt = Date.now()): RunRecord {
  const status = run.status ?? "initializing";
  return {
    id,
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
    cancelRequestedAt: null,
    seq: 0,
    scheduleName: run.scheduleName ?? null,
    scheduledFor: run.scheduledFor ?? null,
  };
}

export function toStepRunRecord(row: StepRunRow): StepRunRecord {
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
    seq: row.seq,
  };
}

export function toArtifactVersionRecord(row: ArtifactVersionRow): ArtifactVersionRecord {
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
    artifactStoreId: row.artifact_store_id,
  };
}

export function toStepInputLink(row: StepInputRow): StepInputLink {
  return { stepRunId: row.step_run_id, artifactVersionId: row.artifact_version_id, inputName: row.input_name };
}

export function toStepOutputLink(row: StepOutputRow): StepOutputLink {
  return {
    stepRunId: row.step_run_id,
    artifactVersionId: row.artifact_version_id,
    outputName: row.output_name,
    mappingKey: row.mapping_key,
    position: row.position,
  };
}

export function toLogLine(row: LogRow): LogLine {
  return {
    id: row.id,
    runId: row.run_id,
    stepRunId: row.step_run_id,
    stream: row.stream,
    message: row.message,
    at: row.at,
  };
}

export function toComponentRecord(row: MemberRow): ComponentRecord {
  return { id: row.id, type: row.type, name: row.name, flavor: row.flavor, config: fromJson(row.config) };
}

// Patchable fields and their columns. A field missing here cannot be patched.
export const RUN_PATCH_COLUMNS: Record<keyof RunPatch, string> = {
  status: "status",
  orchestratorRunId: "orchestrator_run_id",
  startedAt: "started_at",
  endedAt: "ended_at",
  error: "error",
  output: "output",
  fingerprint: "fingerprint",
  heartbeatAt: "heartbeat_at",
  owner: "owner",
  cancelRequestedAt: "cancel_requested_at",
};

export const STEP_RUN_PATCH_COLUMNS: Record<keyof StepRunPatch, string> = {
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

export const JSON_PATCH_COLUMNS = new Set(["output", "metadata", "upstream"]);


/** Step statuses after which an attempt's result no longer applies. */
export const FINAL_STATUSES = `'completed', 'cached', 'failed', 'skipped'`;

/** The named parameters of a run filter, null for "any". */
export function runFilterParams(filter: RunFilter) {
  return {
    pipelineName: filter.pipelineName ?? null,
    status: filter.status ?? null,
    name: filter.name ?? null,
    idPrefix: filter.idPrefix ?? null,
    scheduleName: filter.scheduleName ?? null,
    limit: filter.limit ?? -1, // SQLite reads a negative LIMIT as "no limit"; PostgreSQL is given NULL
    offset: filter.offset ?? 0,
  };
}

/** The columns a run-summary query adds to a run row: one row per (run, step status). */
export interface StepCountColumns {
  step_status: StepStatus | null;
  step_count: number | null;
}

/** Folds the (run, status, count) rows of a summary query into one summary per run, keeping their order. */
export function summarize<Row extends StepCountColumns & { id: string }>(
  rows: Row[],
  toRecord: (row: Row) => RunRecord,
): RunSummary[] {
  const byId = new Map<string, RunSummary>();
  for (const row of rows) {
    let summary = byId.get(row.id);
    if (!summary) byId.set(row.id, (summary = { ...toRecord(row), stepCounts: {} }));
    if (row.step_status !== null) summary.stepCounts[row.step_status] = Number(row.step_count);
  }
  return [...byId.values()];
}

/** The artifact version ids a run's output refers to (`{ "$artifact": id }` anywhere in it). */
export function outputArtifactIds(output: unknown, found: string[] = []): string[] {
  if (Array.isArray(output)) {
    for (const item of output) outputArtifactIds(item, found);
  } else if (output !== null && typeof output === "object") {
    const ref = (output as { $artifact?: unknown }).$artifact;
    if (typeof ref === "string") found.push(ref);
    else for (const value of Object.values(output)) outputArtifactIds(value, found);
  }
  return found;
}

/** An artifact version row ready to insert, all but its artifact id and version number. */
export interface ArtifactVersionInsert extends Omit<NewArtifactVersion, "id" | "metadata"> {
  id: string;
  /** The metadata as stored (JSON text), and as given. */
  metadata: string;
  metadataValue: Record<string, unknown>;
  createdAt: number;
  artifactStoreId: string | null;
}

export function artifactVersionRow(artifact: NewArtifactVersion, id: string): ArtifactVersionInsert {
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
    artifactStoreId: artifact.artifactStoreId ?? null,
  };
}

export function stepConfigurationRow(config: NewStepConfiguration) {
  return {
    id: timeOrderedId(),
    snapshotId: config.snapshotId ?? null,
    stepRunId: config.stepRunId ?? null,
    invocationId: config.invocationId,
    stepName: config.stepName,
    config: toJson(config.config),
  };
}


/** The record of an inserted artifact version row. */
export function insertedArtifactVersion(row: ArtifactVersionInsert, version: number): ArtifactVersionRecord {
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
    artifactStoreId: row.artifactStoreId,
  };
}

/**
 * The step-run fields a completion sets besides its own when it carries its attempt's start
 * (`StepCompletion.started`): the "running" write that never went out.
 */
export function startOf(completion: StepCompletion): Partial<StepRunPatch> {
  if (!completion.started) return {};
  const { startedAt, upstream } = completion.started;
  return { attempt: completion.attempt, startedAt, error: null, ...(upstream ? { upstream } : {}) };
}

/** What a completion sets on its step run (its start too, when it carries it). */
export function completionPatch(completion: StepCompletion): StepRunPatch {
  return {
    ...startOf(completion),
    status: completion.status,
    endedAt: completion.endedAt,
    cacheKey: completion.cacheKey,
    originalStepRunId: completion.originalStepRunId,
    metadata: completion.metadata,
  };
}

/** A patch update: the columns of its defined fields and their stored values. */
export interface Patch {
  table: "step_runs" | "pipeline_runs";
  id: string;
  columns: string[];
  values: unknown[];
  /** Fenced completion: apply only while no later attempt is recorded and the step run is not final. */
  fence?: number;
}

/** The columns and values of a patch's defined fields; undefined when it sets nothing. */
export function patchOf(
  table: Patch["table"],
  columnsByField: Record<string, string>,
  id: string,
  patch: object,
  fence?: number,
): Patch | undefined {
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
  return columns.length === 0 ? undefined : { table, id, columns, values, fence };
}
