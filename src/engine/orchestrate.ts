import { pathToFileURL } from "node:url";
import { errorMessage, ResourceRequestError, ResumeError, RunLeaseError, RunNotFoundError, StepFailedError } from "../authoring/errors.js";
import { lookupPipeline, type PipelineDefinition } from "../authoring/pipeline.js";
import { resolveModulePath } from "../config/project.js";
import { defaultMaterializers } from "../materializers/registry.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import { HEARTBEAT_MS, isAlive, ownerId, STALE_AFTER_MS } from "../stores/metadata/liveness.js";
import type { MetadataStore, RunRecord, SnapshotRecord, StepRunRecord } from "../stores/metadata/types.js";
import type { CompiledStep } from "./compile.js";
import { artifactRefOf, type StepLauncher } from "./launcher.js";
import { withOrchestratedRun } from "./run-context.js";
import { RunEngine, type RecordedStepRun } from "./run-engine.js";

/**
 * What the engine needs to drive a run, as values: it knows nothing of stacks or
 * orchestrators (orchestrators/base.ts maps a stack onto these).
 */
export interface OrchestrateOptions {
  runId: string;
  store: MetadataStore;
  /** Where step outputs are written. */
  artifacts: ArtifactStore;
  /** How each step attempt is launched. */
  launcher: StepLauncher;
  /** The orchestrator's id of this run, asked inside the run's context. */
  orchestratorRunId(): string;
  /** Continue a run that has step runs on record (replay, answer completed ones from the record). */
  resume?: boolean;
}

/** The error of the last run this process orchestrated, by run id: lets `await p()` rethrow the real cause. */
export const runCauses = new Map<string, Error>();

/**
 * Runs whose caller in this process shows the run when it ends (api/run.ts): their step runs
 * as the engine wrote them are left in `writtenStepRuns` for it, so that a run of 10,000 steps
 * is not read back row by row. Only asked-for runs are kept (a worker orchestrating run after
 * run keeps nothing).
 */
export const stepRunsWanted = new Set<string>();
export const writtenStepRuns = new Map<string, StepRunRecord[]>();

/**
 * The orchestration process's work, the same for every orchestrator: run the pipeline
 * function on the run engine (static pipelines replay their graph-building function),
 * with steps launched by the orchestrator's launcher, and record the run's outcome.
 */
export async function orchestrateRun(options: OrchestrateOptions): Promise<void> {
  const { runId, store, launcher } = options;
  const run = await store.getRun(runId);
  if (!run) throw new RunNotFoundError(`no run with id "${runId}"`);
  const snapshot = await store.getSnapshot(run.snapshotId);
  if (!snapshot) throw new RunNotFoundError(`run "${runId}" has no snapshot ${run.snapshotId}`);
  const pipeline = await resolvePipeline(snapshot);
  const recorded = options.resume ? await loadRecorded(store, runId) : undefined;

  if (!snapshot.isDynamic) checkAdmissible(snapshot, launcher);
  const owner = ownerId();
  await claimLease(store, run, owner);
  await store.updateRun(runId, {
    status: "running",
    startedAt: run.startedAt ?? Date.now(),
    endedAt: null,
    error: null,
    orchestratorRunId: withOrchestratedRun(runId, () => options.orchestratorRunId()),
    owner,
    heartbeatAt: Date.now(),
    // A resume starts afresh: an earlier cancel request was for the run that ended.
    cancelRequestedAt: null,
  });
  // The component that holds this run's artifacts: every version records it (any machine reads it back).
  // Matched by flavor and config, not name: an in-code store may be registered under a derived name.
  const config = canonicalJson(options.artifacts.config());
  const artifactStoreId =
    (await store.listComponents()).find(
      (c) => c.type === "artifact_store" && c.flavor === options.artifacts.flavor && canonicalJson(c.config) === config,
    )?.id ?? null;
  const engine = new RunEngine({
    runId,
    pipelineName: snapshot.pipelineName,
    isDynamic: snapshot.isDynamic,
    enableCache: run.enableCache && pipeline.options.enableCache !== false,
    store,
    artifacts: options.artifacts,
    artifactStoreId,
    materializers: defaultMaterializers(),
    launcher,
    recordConfigurations: snapshot.isDynamic,
    recorded,
  });

  // The heartbeat also reads the run's cancel request (`weir runs cancel` from another machine).
  const heartbeat = setInterval(() => {
    store.updateRun(runId, { heartbeatAt: Date.now() }).catch(() => undefined);
    void store
      .getRun(runId)
      .then((current) => {
        if (current?.cancelRequestedAt) engine.cancel(new Error(`cancelled (weir runs cancel, at ${new Date(current.cancelRequestedAt).toISOString()})`));
      })
      .catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();

  let status: "completed" | "failed" = "completed";
  let cause: Error | undefined;
  let output: unknown = null;
  let fingerprint: string | null = null;
  try {
    const outcome = await withOrchestratedRun(runId, () => engine.run(pipeline.fn, snapshot.parameters));
    output = outcome.output;
    fingerprint = outcome.fingerprint;
    if (outcome.stepRuns && stepRunsWanted.has(runId)) writtenStepRuns.set(runId, outcome.stepRuns);
    if (outcome.functionError) {
      status = "failed";
      cause = outcome.functionError;
    } else if (outcome.fatalFailures.length > 0) {
      status = "failed";
      const first = outcome.fatalFailures[0];
      cause = new StepFailedError(first.invocationId, errorMessage(first.error), { cause: first.error });
    }
  } catch (error) {
    status = "failed";
    cause = error instanceof Error ? error : new Error(String(error));
  } finally {
    clearInterval(heartbeat);
    await launcher.close?.();
  }

  await store.updateRun(runId, {
    status,
    endedAt: Date.now(),
    error: cause ? errorMessage(cause) : null,
    output,
    fingerprint,
    heartbeatAt: Date.now(),
  });
  if (cause) runCauses.set(runId, cause);
  await runPipelineHook(pipeline, runId, status, cause, store);
}

async function runPipelineHook(
  pipeline: PipelineDefinition,
  runId: string,
  status: "completed" | "failed",
  cause: Error | undefined,
  store: MetadataStore,
): Promise<void> {
  const info = { runId, pipelineName: pipeline.name, status };
  try {
    if (status === "completed") await pipeline.options.onSuccess?.(info);
    else await pipeline.options.onFailure?.(info, cause ?? new Error("run failed"));
  } catch (error) {
    // A failing hook is reported in the run's logs; it does not change the run's outcome.
    await store.appendLogs([
      { runId, stepRunId: null, stream: "stderr", message: `pipeline hook failed: ${errorMessage(error)}`, at: Date.now() },
    ]);
  }
}

/** The pipeline of a snapshot: already defined in this process, or imported from its module. */
export async function resolvePipeline(snapshot: SnapshotRecord): Promise<PipelineDefinition> {
  // Recorded relative to the project root (older records: absolute), see config/project.ts.
  const module = snapshot.source.module ? resolveModulePath(snapshot.source.module, snapshot.source.root) : undefined;
  let pipeline = lookupPipeline(module, snapshot.pipelineName);
  if (!pipeline && module) {
    await import(pathToFileURL(module).href);
    pipeline = lookupPipeline(module, snapshot.pipelineName);
  }
  if (!pipeline) {
    throw new ResumeError(
      `pipeline "${snapshot.pipelineName}" could not be found${module ? ` in ${module}` : ""}; ` +
        "the module that defines it must be importable by the orchestration process",
    );
  }
  return pipeline;
}

async function loadRecorded(store: MetadataStore, runId: string): Promise<Map<string, RecordedStepRun>> {
  const recorded = new Map<string, RecordedStepRun>();
  for (const record of await store.listStepRuns(runId)) {
    const outputs: RecordedStepRun["outputs"] = [];
    if (record.status === "completed" || record.status === "cached") {
      for (const link of await store.listStepOutputs(record.id)) {
        const version = await store.getArtifactVersion(link.artifactVersionId);
        if (!version) continue;
        outputs.push({ mappingKey: link.mappingKey, artifact: artifactRefOf(version) });
      }
    }
    recorded.set(record.invocationId, { record, outputs });
  }
  return recorded;
}

/** Static runs know every step up front: one that can never be launched fails the run before any step runs. */
function checkAdmissible(snapshot: SnapshotRecord, launcher: StepLauncher): void {
  if (!launcher.admissible) return; // most launchers can launch anything (and the spec stays unparsed)
  const steps = (snapshot.spec as { steps?: Record<string, CompiledStep> }).steps ?? {};
  for (const step of Object.values(steps)) {
    const problem = launcher.admissible?.({ invocationId: step.invocationId, resources: step.settings.resources });
    if (problem) throw new ResourceRequestError(problem);
  }
}

/** The variable through which a submitting process hands its lease on a run to the orchestration process it starts. */
export const RUN_OWNER_ENV = "WEIR_RUN_OWNER";

/**
 * Takes the run's lease for this process (`claimRun`, a compare-and-set on owner and
 * heartbeat), so two processes never drive one run. A live owner's lease is refused; the
 * lease of an owner that is known dead (its pid is gone from this host, or its heartbeat is
 * stale) is taken over only if nobody renewed it since it was read. A process started by
 * the run's submitter inherits its lease through WEIR_RUN_OWNER. Stores without `claimRun`
 * get the same refusal from the liveness check alone (without the compare-and-set).
 */
async function claimLease(store: MetadataStore, run: RunRecord, owner: string): Promise<void> {
  const now = Date.now();
  const alive = isAlive(run, now);
  const inherited = process.env.WEIR_RUN_ID === run.id ? process.env[RUN_OWNER_ENV] : undefined;
  const claimRun = (store as { claimRun?: (runId: string, owner: string, staleBeforeMs: number) => Promise<boolean> }).claimRun;
  const seen = run.heartbeatAt ?? run.createdAt;
  if (typeof claimRun === "function") {
    const staleBefore = alive ? now - STALE_AFTER_MS : Math.max(now - STALE_AFTER_MS, seen + 1);
    if (await claimRun.call(store, run.id, owner, staleBefore)) return;
    if (inherited && run.owner === inherited && (await claimRun.call(store, run.id, inherited, staleBefore))) return;
  } else if (!alive || !run.owner || run.owner === owner || run.owner === inherited) {
    return;
  }
  const heard = Math.round((now - seen) / 1000);
  throw new RunLeaseError(
    `run ${run.id} of "${run.pipelineName}" is being driven by ${run.owner ?? "another process"} (heard from ${heard}s ago); ` +
      "a run has one driver at a time: wait for it to end, or resume once it has stopped",
  );
}

/** JSON with object keys sorted, so two equal configs compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}
