import { OrchestratorNotSupportedError, ResumeError, RunLeaseError, RunNotFoundError } from "../authoring/errors.js";
import type { PipelineDefinition, PipelineRunner } from "../authoring/pipeline.js";
import { buildRunView, type PipelineRun } from "../client/run-view.js";
import { openMetadataStore, storeUrlOf, weirHome } from "../config/home.js";
import { RUN_OWNER_ENV, runCauses, stepRunsWanted, writtenStepRuns } from "../engine/orchestrate.js";
import { compileDefinition, createRun, failRun } from "../engine/submit.js";
import { createSchedule } from "../schedules/create.js";
import { orchestrateOnStack } from "../orchestrators/base.js";
import { resolveStack, resolveStackForRun, type Stack } from "../stack/stack.js";
import { isAlive } from "../stores/metadata/liveness.js";
import type { MetadataStore } from "../stores/metadata/types.js";

// The pipeline callable's side (`await p()`, `p.run()`, `p.resume()`): submit through the
// engine, then read the outcome back as the Client does. This is the one module that joins
// the two, so the engine never imports the client and authoring never imports either
// (presets/default.ts hands `pipelineRunner` to authoring/pipeline.ts).

export type { PipelineRun } from "../client/run-view.js";

export interface RunOptions {
  /** A registered stack's name or a Stack object (default: the active stack). */
  stack?: string | Stack;
  /** Default true; false turns the cache off for every step of this run. */
  enableCache?: boolean;
  /** The run's name; it must be new (default: `<pipeline>-<time>-<random>`). */
  runName?: string;
  /** The new run's id, chosen by the caller (`weir run` prints it before the run starts); default: a new one. */
  runId?: string;
  /** Set by the scheduler: the schedule that started the run and the tick it was planned for. */
  schedule?: { name: string; plannedFor: number };
}

/**
 * Runs a pipeline: snapshot it, create its run, and submit it to the stack's orchestrator.
 * Resolves to the run record in whatever final state it reached.
 */
export async function runPipeline(definition: PipelineDefinition, params: Record<string, unknown>, options: RunOptions): Promise<PipelineRun> {
  const home = weirHome();
  const store = await openMetadataStore(home);
  const { stack, recordedAs } = await resolveStackForRun(store, options.stack, home);
  const { orchestrator } = stack;
  if (definition.isDynamic && !orchestrator.supportsDynamicPipelines) {
    throw new OrchestratorNotSupportedError(
      `pipeline "${definition.name}" is dynamic, but orchestrator "${orchestrator.name}" of stack "${stack.name}" ` +
        "does not support dynamic pipelines (supportsDynamicPipelines is false)",
    );
  }
  const { snapshot, run } = await createRun(store, definition, params, {
    stackName: recordedAs,
    runName: options.runName,
    runId: options.runId,
    enableCache: options.enableCache,
    schedule: options.schedule,
  });
  // A process the orchestrator starts for this run takes over the lease through WEIR_RUN_OWNER;
  // it finds the store by URL, never by this process's home folder.
  const environment = { WEIR_STORE_URL: storeUrlOf(store), WEIR_RUN_ID: run.id, WEIR_STACK: recordedAs, [RUN_OWNER_ENV]: run.owner ?? "" };
  stepRunsWanted.add(run.id);
  try {
    const submit = definition.isDynamic ? orchestrator.submitDynamicPipeline : orchestrator.submitPipeline;
    const submission = await submit.call(orchestrator, snapshot, stack, environment, run);
    await submission?.waitForCompletion?.();
  } catch (error) {
    if (error instanceof RunLeaseError) throw error;
    await failRun(store, run.id, error);
  } finally {
    stepRunsWanted.delete(run.id);
  }
  return finishedRun(store, run.id, params);
}

/** `weir runs resume RUN` / `p.resume(runId)`: continue a failed or interrupted run in place. */
export async function resumeRun(runId: string, options: { stack?: string | Stack; pipeline?: PipelineDefinition }): Promise<PipelineRun> {
  const home = weirHome();
  const store = await openMetadataStore(home);
  const run = await store.getRun(runId);
  if (!run) throw new RunNotFoundError(`no run with id "${runId}"`);
  if (options.pipeline && options.pipeline.name !== run.pipelineName) {
    throw new ResumeError(`run ${runId} belongs to pipeline "${run.pipelineName}", not "${options.pipeline.name}"`);
  }
  if (run.status === "completed") throw new ResumeError(`run ${runId} of "${run.pipelineName}" already completed; nothing to resume`);
  if (isAlive(run)) {
    throw new ResumeError(`run ${runId} of "${run.pipelineName}" is still running (process ${run.owner}); resume it once that process has ended`);
  }
  const stack = await resolveStack(store, options.stack ?? run.stackName, home);
  try {
    await orchestrateOnStack({ runId, stack, store, resume: true });
  } catch (error) {
    // Refused because another process drives the run: that run is not this call's to fail.
    if (error instanceof RunLeaseError) throw error;
    await failRun(store, runId, error);
  }
  return finishedRun(store, runId);
}

/** The run as the Client shows it, with the error that failed it when it ran in this process. */
async function finishedRun(store: MetadataStore, runId: string, parameters?: Record<string, unknown>): Promise<PipelineRun> {
  const record = await store.getRun(runId);
  if (!record) throw new RunNotFoundError(`run ${runId} disappeared from the metadata store`);
  // The engine's own account of the step runs, when it ran here and wrote all of them.
  const stepRuns = writtenStepRuns.get(runId);
  writtenStepRuns.delete(runId);
  const view = await buildRunView(store, record, { parameters, stepRuns });
  const cause = runCauses.get(runId);
  runCauses.delete(runId);
  if (cause) Object.defineProperty(view, "cause", { value: cause, enumerable: false });
  return view;
}

/** What `pipeline()`'s callables run. */
export const pipelineRunner: PipelineRunner = {
  run: runPipeline,
  compile: compileDefinition,
  resume: (runId, options) => resumeRun(runId, options),
  schedule: async (definition, options) => createSchedule(await openMetadataStore(), definition, options),
};
