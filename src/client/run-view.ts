import { loadStoredArtifact } from "../materializers/io.js";
import { defaultMaterializers } from "../materializers/registry.js";
import { resolveArtifactStore } from "../stores/artifacts/resolve.js";
import { isAlive } from "../stores/metadata/liveness.js";
import type { ArtifactVersionRecord, MetadataStore, RunRecord, RunStatus, RunSummary, StepRunRecord, StepStatus } from "../stores/metadata/types.js";

/** One step run as `run.steps` and the Client show it. */
export interface StepRunView {
  id: string;
  /** The invocation id: `train`, `train_2`, `process_file[a_txt]`. */
  name: string;
  stepName: string;
  status: StepStatus;
  mappingKey: string | null;
  attempts: number;
  startedAt: Date | null;
  endedAt: Date | null;
  error: string | null;
  cacheKey: string | null;
  originalStepRunId: string | null;
  upstream: string[];
  parameters: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** A pipeline run as `p.run()` and `client.getRun()` return it. */
export interface PipelineRun {
  id: string;
  name: string;
  pipelineName: string;
  status: RunStatus;
  isDynamic: boolean;
  error: string | null;
  stackName: string;
  /** The pipeline snapshot it executes (`client.getSnapshot(run.snapshotId)`). */
  snapshotId: string;
  orchestratorRunId: string | null;
  /** Runs a schedule started: the schedule's name and the tick the run was planned for. */
  scheduleName: string | null;
  scheduledFor: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  fingerprint: string | null;
  /** The parameters the run was submitted with (after the pipeline's schema parsed them). */
  parameters: Record<string, unknown>;
  /** False when the run says `running` but the process driving it stopped sending heartbeats. */
  alive: boolean;
  steps: StepRunView[];
  /** The pipeline's return value, with every step output loaded. */
  output(): Promise<unknown>;
  /** In the process that ran it: the error that failed the run. */
  cause?: Error;
}

export function stepView(record: StepRunRecord): StepRunView {
  return {
    id: record.id,
    name: record.invocationId,
    stepName: record.stepName,
    status: record.status,
    mappingKey: record.mappingKey,
    attempts: record.attempt,
    startedAt: toDate(record.startedAt),
    endedAt: toDate(record.endedAt),
    error: record.error,
    cacheKey: record.cacheKey,
    originalStepRunId: record.originalStepRunId,
    upstream: record.upstream,
    parameters: record.parameters,
    metadata: record.metadata,
  };
}

/**
 * `parameters`, when the caller knows them, saves reading the snapshot: a static snapshot
 * holds the whole compiled graph (parsing a 10,000-step one takes ~150 ms here). `stepRuns`,
 * when the caller knows them exactly as stored (the engine that wrote them), saves reading them.
 */
export async function buildRunView(
  store: MetadataStore,
  run: RunRecord,
  known: { parameters?: Record<string, unknown>; stepRuns?: StepRunRecord[] } = {},
): Promise<PipelineRun> {
  const [stepRuns, parameters] = await Promise.all([
    known.stepRuns ?? store.listStepRuns(run.id),
    known.parameters ?? store.getSnapshot(run.snapshotId).then((snapshot) => snapshot?.parameters ?? {}),
  ]);
  // Steps before output, as the view has always listed them (JSON output keeps its order).
  const { output, ...fields } = runFields(store, run, parameters);
  return { ...fields, steps: stepRuns.map(stepView), output };
}

/** A run as listed: its view without the step runs, and how many it has in each status. */
export interface RunSummaryView extends Omit<PipelineRun, "steps"> {
  stepCount: number;
  stepCounts: Partial<Record<StepStatus, number>>;
}

/**
 * The view of a listed run from its summary (`MetadataStore.listRunSummaries`: the step
 * counts of a page of runs in one query), without reading its step runs: listing runs
 * costs the same for runs of 10 steps or 100,000.
 */
export async function buildRunSummaryView(store: MetadataStore, summary: RunSummary): Promise<RunSummaryView> {
  const parameters = (await store.getSnapshot(summary.snapshotId))?.parameters ?? {};
  const { stepCounts, ...run } = summary;
  let stepCount = 0;
  for (const count of Object.values(stepCounts)) stepCount += count ?? 0;
  return { ...runFields(store, run, parameters), stepCount, stepCounts: { ...stepCounts } };
}

function runFields(store: MetadataStore, run: RunRecord, parameters: Record<string, unknown>): Omit<PipelineRun, "steps"> {
  return {
    id: run.id,
    name: run.name,
    pipelineName: run.pipelineName,
    status: run.status,
    isDynamic: run.isDynamic,
    error: run.error,
    stackName: run.stackName,
    snapshotId: run.snapshotId,
    orchestratorRunId: run.orchestratorRunId,
    scheduleName: run.scheduleName,
    scheduledFor: toDate(run.scheduledFor),
    createdAt: new Date(run.createdAt),
    startedAt: toDate(run.startedAt),
    endedAt: toDate(run.endedAt),
    fingerprint: run.fingerprint,
    parameters,
    alive: isAlive(run),
    output: () => decodeOutput(store, run.output),
  };
}

/** Loads an artifact version's value through the artifact store that holds it. */
export async function loadArtifactVersion(store: MetadataStore, version: ArtifactVersionRecord): Promise<unknown> {
  const artifacts = await resolveArtifactStore(store, version);
  return loadStoredArtifact(version, { artifacts, materializers: defaultMaterializers() });
}

/** Replaces `{ $artifact: id }` references (from the engine) with the loaded values, deeply. */
export async function decodeOutput(store: MetadataStore, value: unknown): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v) => decodeOutput(store, v)));
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  if (typeof record.$artifact === "string") {
    const version = await store.getArtifactVersion(record.$artifact);
    if (!version) throw new Error(`artifact version ${record.$artifact} is not in the metadata store`);
    const loaded = await loadArtifactVersion(store, version);
    return typeof record.$index === "number" ? (loaded as unknown[])[record.$index] : loaded;
  }
  const entries = await Promise.all(Object.entries(record).map(async ([k, v]) => [k, await decodeOutput(store, v)] as const));
  return Object.fromEntries(entries);
}

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}
