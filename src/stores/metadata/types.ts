/**
 * The metadata store: every snapshot, run, step run, artifact version, lineage edge,
 * log line and stack that weir knows about. One interface, implemented once per SQL
 * backend (SQLite embedded, PostgreSQL for teams) on one set of migrations.
 *
 * Conventions shared by every implementation:
 * - ids are strings (UUIDs made by the caller or the store);
 * - times are milliseconds since the epoch (numbers);
 * - JSON columns are passed in and out as parsed values, never as strings;
 * - writes that belong together (a step run finishing with its outputs) are one
 *   transaction, so a killed process never leaves half of it behind;
 * - writes are applied in the order they are called, even when a store batches them: the
 *   engine issues a step run's writes (create, start, complete) without waiting for the
 *   earlier ones, and a crash leaves a prefix of them.
 */

export type RunStatus = "initializing" | "running" | "completed" | "failed";
export type StepStatus = "pending" | "running" | "completed" | "cached" | "failed" | "skipped";

export interface SnapshotRecord {
  id: string;
  pipelineId: string;
  pipelineName: string;
  isDynamic: boolean;
  /** The pipeline's parameters for the run this snapshot was made for. */
  parameters: Record<string, unknown>;
  /** Where the pipeline function lives, so another process can import it. */
  source: { module: string; exportName?: string; root?: string };
  /** Static pipelines: the compiled graph (steps by invocation id, output spec). */
  spec: unknown;
  createdAt: number;
}

export interface NewSnapshot {
  pipelineName: string;
  isDynamic: boolean;
  parameters: Record<string, unknown>;
  source: { module: string; exportName?: string; root?: string };
  spec: unknown;
}

/** A step configuration belongs to exactly one of a snapshot (static) or a step run (dynamic). */
export interface StepConfigurationRecord {
  id: string;
  snapshotId: string | null;
  stepRunId: string | null;
  invocationId: string;
  stepName: string;
  config: unknown;
}

export type NewStepConfiguration =
  | { snapshotId: string; stepRunId?: undefined; invocationId: string; stepName: string; config: unknown }
  | { stepRunId: string; snapshotId?: undefined; invocationId: string; stepName: string; config: unknown };

export interface RunRecord {
  id: string;
  name: string;
  pipelineName: string;
  snapshotId: string;
  stackName: string;
  isDynamic: boolean;
  status: RunStatus;
  orchestratorRunId: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  error: string | null;
  /** The pipeline's return value, with step outputs as `{ "$artifact": versionId }` references. */
  output: unknown;
  enableCache: boolean;
  /** Hash of the executed graph (issue: determinism aid). */
  fingerprint: string | null;
  /** Last sign of life of the process that drives the run, and who that is. */
  heartbeatAt: number | null;
  owner: string | null;
  /** Runs started by a schedule: its name and the tick (epoch ms) the run was planned for. */
  scheduleName: string | null;
  scheduledFor: number | null;
  /** When someone asked for the run to stop (`weir runs cancel`); the driver acts on it. */
  cancelRequestedAt: number | null;
  /** The store's change sequence when the row last changed (see listStepRunChanges). */
  seq: number;
}

export interface NewRun {
  id?: string;
  name: string;
  pipelineName: string;
  snapshotId: string;
  stackName: string;
  isDynamic: boolean;
  enableCache: boolean;
  status?: RunStatus;
  /** Who drives the run from its creation on (host:pid), and its first sign of life. */
  owner?: string | null;
  heartbeatAt?: number | null;
  scheduleName?: string | null;
  scheduledFor?: number | null;
}

export type RunPatch = Partial<
  Pick<
    RunRecord,
        | "status"
    | "orchestratorRunId"
    | "startedAt"
    | "endedAt"
    | "error"
    | "output"
    | "fingerprint"
    | "heartbeatAt"
    | "owner"
    | "cancelRequestedAt"
  >
>;

export interface RunFilter {
  pipelineName?: string;
  status?: RunStatus;
  scheduleName?: string;
  /** The run's name, exactly. */
  name?: string;
  /** The start of the run's id. */
  idPrefix?: string;
  limit?: number;
  /** Runs to skip (newest first) before the first one returned: paging. */
  offset?: number;
}

/** A run with how many of its step runs are in each status, read in one query. */
export interface RunSummary extends RunRecord {
  stepCounts: Partial<Record<StepStatus, number>>;
}

export interface StepRunRecord {
  id: string;
  runId: string;
  /** Durable key within the run: `name`, `name_2`, `name[key]`. */
  invocationId: string;
  stepName: string;
  status: StepStatus;
  /** Attempts started so far (1 after the first try). */
  attempt: number;
  mappingKey: string | null;
  cacheKey: string | null;
  /** For `cached` step runs: the step run whose outputs were reused. */
  originalStepRunId: string | null;
  /** Position in discovery order within the run (0, 1, 2, …): replay checks use it. */
  position: number;
  upstream: string[];
  parameters: Record<string, unknown>;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  error: string | null;
  metadata: Record<string, unknown>;
  /** The store's change sequence when the row last changed (see listStepRunChanges). */
  seq: number;
}

export interface NewStepRun {
  id?: string;
  runId: string;
  invocationId: string;
  stepName: string;
  status?: StepStatus;
  mappingKey?: string | null;
  position: number;
  upstream: string[];
  parameters: Record<string, unknown>;
  /** Dynamic runs record the step's configuration with the step run, in the same transaction. */
  configuration?: unknown;
}

export type StepRunPatch = Partial<
  Pick<
    StepRunRecord,
    "status" | "attempt" | "cacheKey" | "originalStepRunId" | "startedAt" | "endedAt" | "error" | "metadata" | "upstream"
  >
>;

export interface ArtifactVersionRecord {
  id: string;
  artifactName: string;
  version: number;
  uri: string;
  dataType: string;
  materializer: string;
  contentHash: string;
  size: number;
  metadata: Record<string, unknown>;
  createdAt: number;
  /** The stack component (`ComponentRecord.id`) of the artifact store holding the bytes; null for older rows. */
  artifactStoreId: string | null;
}

export interface NewArtifactVersion {
  id?: string;
  /** Artifacts are named `pipeline::invocation::output`; versions count up per name. */
  artifactName: string;
  uri: string;
  dataType: string;
  materializer: string;
  contentHash: string;
  size: number;
  metadata?: Record<string, unknown>;
  artifactStoreId?: string | null;
}

export interface StepOutputLink {
  stepRunId: string;
  artifactVersionId: string;
  outputName: string;
  /** Dynamic outputs: one link per yielded item, in emission order. */
  mappingKey: string | null;
  position: number;
}

export interface StepInputLink {
  stepRunId: string;
  artifactVersionId: string;
  /** `arg0`, `arg1[2]`, …: which argument the artifact was passed as. */
  inputName: string;
}

export interface LogLine {
  id?: number;
  runId: string;
  stepRunId: string | null;
  stream: "stdout" | "stderr" | "log";
  message: string;
  at: number;
}

export interface ComponentRecord {
  id: string;
  type: "orchestrator" | "artifact_store" | "container_registry";
  name: string;
  flavor: string;
  config: Record<string, unknown>;
}

export interface StackRecord {
  name: string;
  components: ComponentRecord[];
  createdAt: number;
}

/** Everything a step run's completion writes, committed together. */
export interface StepCompletion {
  stepRunId: string;
  /**
   * The attempt this result belongs to. When given, the completion is applied only while
   * no later attempt has been recorded and the step run is not already final: a stale
   * attempt's late result is ignored (completeStepRun returns false).
   */
  attempt?: number;
  /**
   * The attempt's start, when its "running" write never went out (the attempt ended in the
   * turn it started): the step run goes from pending to final in this one write, and its
   * `attempt`, `startedAt` and `upstream` are set from here.
   */
  started?: { startedAt: number; upstream?: string[] };
  status: "completed" | "cached";
  endedAt: number;
  cacheKey?: string | null;
  originalStepRunId?: string | null;
  metadata?: Record<string, unknown>;
  /** New artifact versions made by this step run (already written to the artifact store). */
  newArtifacts: NewArtifactVersion[];
  /** Output links; `artifactVersionId` may name one of `newArtifacts` by its id, or an existing version (cache hits). */
  outputs: Omit<StepOutputLink, "stepRunId">[];
}

/** A cached step run with its outputs (`MetadataStore.findCacheHitRecords`). */
export interface CacheHitRecords {
  original: StepRunRecord;
  outputs: { link: StepOutputLink; version: ArtifactVersionRecord | undefined }[];
}

/** Step-run writes without a promise each (`MetadataStore.stepRunWriter`). */
export interface StepRunWriter {
  create(stepRun: NewStepRun): void;
  update(id: string, patch: StepRunPatch): void;
  /** `ignored` hears of the completion when it was fenced (completeStepRun would resolve false). */
  complete(completion: StepCompletion, ignored: (completion: StepCompletion) => void): void;
  /** The same as addStepInputs (the links are copied now). */
  inputs(links: StepInputLink[]): void;
  /** Resolves once every write queued so far has committed or failed (failures go to `failed`). */
  settled(): Promise<void>;
}

export type CatchupPolicy = "skip" | "latest" | "all";
export type OverlapPolicy = "allow" | "skip";

/** A pipeline that runs on cron. `nextFireAt` is the claim schedulers compare-and-set. */
export interface ScheduleRecord {
  id: string;
  name: string;
  pipelineName: string;
  /** The pipeline's module, relative to the project root when it lies inside it. */
  source: { module: string; exportName?: string };
  cron: string;
  /** IANA timezone the cron expression is read in; null: UTC. */
  timezone: string | null;
  parameters: Record<string, unknown>;
  /** The stack to run on; null: the active stack of the scheduler's store. */
  stackName: string | null;
  enableCache: boolean;
  /** What a scheduler that was down does with the ticks it missed (see src/schedules/cron.ts). */
  catchup: CatchupPolicy;
  catchupLimit: number;
  /** Whether a tick fires while the schedule's previous run is still going. */
  overlap: OverlapPolicy;
  paused: boolean;
  /** Fired by the orchestrator's own scheduler (BaseOrchestrator.scheduleNatively), not by weir's. */
  native: boolean;
  nextFireAt: number | null;
  lastFiredAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type NewSchedule = Omit<ScheduleRecord, "id" | "createdAt" | "updatedAt" | "lastFiredAt">;

export type SchedulePatch = Partial<
  Pick<ScheduleRecord, "cron" | "timezone" | "parameters" | "stackName" | "enableCache" | "catchup" | "catchupLimit" | "overlap" | "paused" | "nextFireAt">
>;

export interface MetadataStore {
  /** `sqlite` or `postgres`: migrations and tests branch on it, nothing else should. */
  readonly dialect: string;
  /** Brings the schema to the newest version; safe to call on every open. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createSnapshot(snapshot: NewSnapshot): Promise<SnapshotRecord>;
  getSnapshot(id: string): Promise<SnapshotRecord | undefined>;
  createStepConfigurations(configs: NewStepConfiguration[]): Promise<void>;
  listStepConfigurations(owner: { snapshotId: string } | { stepRunId: string }): Promise<StepConfigurationRecord[]>;

  createRun(run: NewRun): Promise<RunRecord>;
  updateRun(id: string, patch: RunPatch): Promise<void>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /** Like listRuns, with each run's step counts by status, in one query. */
  listRunSummaries(filter?: RunFilter): Promise<RunSummary[]>;
  /** Runs whose name is `name`, or whose id starts with `idPrefix` or ends with `idSuffix` (all given must hold), newest first. */
  findRuns(query: { name?: string; idPrefix?: string; idSuffix?: string }): Promise<RunRecord[]>;
  /**
   * Compare-and-set lease on who drives a run: takes it (owner = `owner`, heartbeat = now)
   * when the run has no owner, is already `owner`'s, or its heartbeat is older than
   * `staleBeforeMs` (epoch ms) or missing. Resolves false when another owner's lease is fresh.
   */
  claimRun(runId: string, owner: string, staleBeforeMs: number): Promise<boolean>;
  /**
   * Deletes the run and its step runs, configurations, tasks, links and logs, its snapshot
   * when no other run uses it, and the artifact versions no other run's step run links to.
   * Returns the deleted versions' URIs so that the caller removes the bytes.
   */
  deleteRun(runId: string): Promise<{ artifactUris: { uri: string; artifactStoreId: string | null }[] }>;

  /** Inserts the step run (with its configuration when given) in one transaction. */
  createStepRun(stepRun: NewStepRun): Promise<StepRunRecord>;
  /**
   * Optional: the run engine's path for the writes it makes for every step run. They are
   * the writes of createStepRun, updateStepRun and completeStepRun, queued in the same
   * order as every other write, but without a promise each (at tens of thousands of steps
   * a second, a promise per write costs more than the write); `failed` hears of any that
   * failed. A store without it gets the methods above.
   */
  stepRunWriter?(failed: (error: unknown) => void): StepRunWriter;
  updateStepRun(id: string, patch: StepRunPatch): Promise<void>;
  /**
   * Marks the step run finished and records its new artifact versions and output links
   * atomically. Resolves false, writing nothing, when the completion is fenced (see
   * `StepCompletion.attempt`).
   */
  completeStepRun(completion: StepCompletion): Promise<boolean>;
  /** Records one dynamic output item as soon as it is stored (streaming map), in one transaction. */
  addStepOutput(artifact: NewArtifactVersion | null, link: StepOutputLink): Promise<ArtifactVersionRecord>;
  /**
   * Resume: puts a step run that did not complete back to `pending` (error and end time
   * cleared, attempt count kept) and drops the output links of its unfinished attempt.
   */
  resetStepRun(id: string): Promise<void>;
  getStepRun(id: string): Promise<StepRunRecord | undefined>;
  findStepRun(runId: string, invocationId: string): Promise<StepRunRecord | undefined>;
  listStepRuns(runId: string): Promise<StepRunRecord[]>;
  /**
   * The run's step runs changed after the cursor `afterSeq` (0: all), in change order, at
   * most `limit`; `seq` is the cursor to pass next time (unchanged when nothing changed).
   */
  listStepRunChanges(runId: string, afterSeq: number, limit?: number): Promise<{ stepRuns: StepRunRecord[]; seq: number }>;
  /** The newest completed (not cached) step run with this cache key, if any. */
  findCachedStepRun(cacheKey: string): Promise<StepRunRecord | undefined>;
  /**
   * Optional, one read for what a cache hit needs: the step run findCachedStepRun answers,
   * its output links (as listStepOutputs orders them) and each link's version (undefined when
   * it is gone, as getArtifactVersion answers). The same answer as those reads in turn.
   */
  findCacheHitRecords?(cacheKey: string): Promise<CacheHitRecords | undefined>;

  /** An artifact version that is no step's output (e.g. a non-JSON value a pipeline returned). */
  createArtifactVersion(artifact: NewArtifactVersion): Promise<ArtifactVersionRecord>;
  getArtifactVersion(id: string): Promise<ArtifactVersionRecord | undefined>;
  /** A version of the artifact by its name: `version`, or the newest. */
  getArtifactVersionByName(artifactName: string, version?: number): Promise<ArtifactVersionRecord | undefined>;
  listArtifactVersions(filter?: { artifactName?: string; limit?: number }): Promise<ArtifactVersionRecord[]>;
  addStepInputs(links: StepInputLink[]): Promise<void>;
  listStepInputs(stepRunId: string): Promise<StepInputLink[]>;
  listStepOutputs(stepRunId: string): Promise<StepOutputLink[]>;

  /**
   * Records the task of a step run's current attempt (replacing an earlier attempt's), for
   * a step process that is given only the step run id: process, queue and pod backends.
   */
  saveStepTask(stepRunId: string, attempt: number, task: unknown): Promise<void>;
  getStepTask(stepRunId: string): Promise<{ attempt: number; task: unknown } | undefined>;

  appendLogs(lines: LogLine[]): Promise<void>;
  /** Log lines of a run (optionally one step run), oldest first, with ids above `afterId`. */
  listLogs(runId: string, options?: { stepRunId?: string; afterId?: number }): Promise<LogLine[]>;

  saveStack(stack: { name: string; components: Omit<ComponentRecord, "id">[] }): Promise<StackRecord>;
  getStack(name: string): Promise<StackRecord | undefined>;
  listStacks(): Promise<StackRecord[]>;
  /** Removes a stack (not its component rows, which runs may still refer to); false when there was none. */
  deleteStack(name: string): Promise<boolean>;
  getComponent(id: string): Promise<ComponentRecord | undefined>;
  /** Every registered component, by type then name. */
  listComponents(): Promise<ComponentRecord[]>;
  setActiveStack(name: string): Promise<void>;
  getActiveStackName(): Promise<string | undefined>;
  /** Lineage of one artifact version: the step run outputs that produced it and the step run inputs that consumed it. */
  listArtifactVersionLinks(artifactVersionId: string): Promise<{ outputs: StepOutputLink[]; inputs: StepInputLink[] }>;

  /** Fails with ScheduleError when a schedule of that name exists. */
  createSchedule(schedule: NewSchedule): Promise<ScheduleRecord>;
  getSchedule(name: string): Promise<ScheduleRecord | undefined>;
  listSchedules(): Promise<ScheduleRecord[]>;
  updateSchedule(name: string, patch: SchedulePatch): Promise<void>;
  /** False when there was no such schedule. Runs it started keep its name. */
  deleteSchedule(name: string): Promise<boolean>;
  /**
   * The claim that makes a tick fire once among several schedulers: moves `nextFireAt` from
   * `expected` to `next` in one compare-and-set statement (recording the newest tick it fires
   * as `lastFiredAt`). True for exactly one caller; false when paused or already moved on.
   */
  claimScheduleTick(name: string, expected: number, next: number | null, lastFiredAt: number | null): Promise<boolean>;
}
