import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { errorMessage, ResourceRequestError, ResumeError, RunNotFoundError, StepFailedError } from "../authoring/errors.js";
import { lookupPipeline, type PipelineDefinition } from "../authoring/pipeline.js";
import { openMetadataStore } from "../config/home.js";
import { defaultMaterializers } from "../materializers/registry.js";
import { withOrchestratedRun, type BaseOrchestrator } from "../orchestrators/base.js";
import type { Stack } from "../stack/stack.js";
import type { MetadataStore, SnapshotRecord } from "../stores/metadata/types.js";
import type { CompiledStep } from "./compile.js";
import { artifactRefOf, type StepLauncher } from "./launcher.js";
import { RunEngine, type RecordedStepRun } from "./run-engine.js";

/** How often the process driving a run says it is alive. */
export const HEARTBEAT_MS = 2_000;

export interface OrchestrateOptions {
  runId: string;
  stack: Stack;
  orchestrator: BaseOrchestrator;
  home?: string;
  /** Continue a run that has step runs on record (replay, answer completed ones from the record). */
  resume?: boolean;
}

/** The error of the last run this process orchestrated, by run id: lets `await p()` rethrow the real cause. */
export const runCauses = new Map<string, Error>();

/**
 * The orchestration process's work, the same for every orchestrator: run the pipeline
 * function on the run engine (static pipelines replay their graph-building function),
 * with steps launched by the orchestrator's launcher, and record the run's outcome.
 */
export async function orchestrateRun(options: OrchestrateOptions): Promise<void> {
  const { runId, stack, orchestrator } = options;
  const store = await openMetadataStore(options.home);
  const run = await store.getRun(runId);
  if (!run) throw new RunNotFoundError(`no run with id "${runId}"`);
  const snapshot = await store.getSnapshot(run.snapshotId);
  if (!snapshot) throw new RunNotFoundError(`run "${runId}" has no snapshot ${run.snapshotId}`);
  const pipeline = await resolvePipeline(snapshot);
  const recorded = options.resume ? await loadRecorded(store, runId) : undefined;

  const launcher = orchestrator.createLauncher(stack);
  if (!snapshot.isDynamic) checkAdmissible(snapshot, launcher);
  await withOrchestratedRun(runId, async () => {
    await store.updateRun(runId, {
      status: "running",
      startedAt: run.startedAt ?? Date.now(),
      endedAt: null,
      error: null,
      orchestratorRunId: orchestrator.getOrchestratorRunId(),
      owner: `${hostname()}:${process.pid}`,
      heartbeatAt: Date.now(),
    });
  });
  const heartbeat = setInterval(() => {
    store.updateRun(runId, { heartbeatAt: Date.now() }).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const engine = new RunEngine({
    runId,
    pipelineName: snapshot.pipelineName,
    isDynamic: snapshot.isDynamic,
    enableCache: run.enableCache && pipeline.options.enableCache !== false,
    store,
    artifacts: stack.artifactStore,
    materializers: defaultMaterializers(),
    launcher,
    recordConfigurations: snapshot.isDynamic,
    recorded,
  });

  let status: "completed" | "failed" = "completed";
  let cause: Error | undefined;
  let output: unknown = null;
  let fingerprint: string | null = null;
  try {
    const outcome = await withOrchestratedRun(runId, () => engine.run(pipeline.fn, snapshot.parameters));
    output = outcome.output;
    fingerprint = outcome.fingerprint;
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
  const { module } = snapshot.source;
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
  const steps = (snapshot.spec as { steps?: Record<string, CompiledStep> }).steps ?? {};
  for (const step of Object.values(steps)) {
    const problem = launcher.admissible?.({ invocationId: step.invocationId, resources: step.settings.resources });
    if (problem) throw new ResourceRequestError(problem);
  }
}
