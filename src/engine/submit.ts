import { randomBytes } from "node:crypto";
import { OrchestratorNotSupportedError, PipelineDefinitionError, ResumeError, RunNotFoundError } from "../authoring/errors.js";
import type { PipelineDefinition } from "../authoring/pipeline.js";
import { buildRunView, isAlive, type PipelineRun } from "../client/run-view.js";
import { openMetadataStore, weirHome } from "../config/home.js";
import { resolveStack, type Stack } from "../stack/stack.js";
import type { MetadataStore } from "../stores/metadata/types.js";
import { jsonProblem } from "./args.js";
import { compilePipeline, type CompiledSnapshot } from "./compile.js";
import { orchestrateRun, runCauses } from "./orchestrate.js";

export type { PipelineRun } from "../client/run-view.js";

export interface RunOptions {
  /** A registered stack's name or a Stack object (default: the active stack). */
  stack?: string | Stack;
  /** Default true; false turns the cache off for every step of this run. */
  enableCache?: boolean;
  runName?: string;
  /** Set by the scheduler: the schedule that started the run and the tick it was planned for. */
  schedule?: { name: string; plannedFor: number };
}

/** `p.compile(params)`: the snapshot, running nothing. */
export async function compileDefinition(definition: PipelineDefinition, params: Record<string, unknown>): Promise<CompiledSnapshot> {
  checkParameters(definition, params);
  if (definition.isDynamic) return { pipelineName: definition.name, isDynamic: true, parameters: params, steps: {} };
  return (await compilePipeline(definition.name, definition.fn, params)).snapshot;
}

/**
 * Runs a pipeline: snapshot it, create its run, and submit it to the stack's orchestrator.
 * Resolves to the run record in whatever final state it reached.
 */
export async function runPipeline(
  definition: PipelineDefinition,
  params: Record<string, unknown>,
  options: RunOptions,
): Promise<PipelineRun> {
  const home = weirHome();
  const store = await openMetadataStore(home);
  const stack = await resolveStack(store, options.stack, home);
  const { orchestrator } = stack;
  if (definition.isDynamic && !orchestrator.supportsDynamicPipelines) {
    throw new OrchestratorNotSupportedError(
      `pipeline "${definition.name}" is dynamic, but orchestrator "${orchestrator.name}" of stack "${stack.name}" ` +
        "does not support dynamic pipelines (supportsDynamicPipelines is false)",
    );
  }
  const compiled = await compileDefinition(definition, params);
  const snapshot = await store.createSnapshot({
    pipelineName: definition.name,
    isDynamic: definition.isDynamic,
    parameters: params,
    source: { module: definition.module ?? "", exportName: definition.name },
    spec: { steps: compiled.steps },
  });
  if (!definition.isDynamic) {
    await store.createStepConfigurations(
      Object.values(compiled.steps).map((s) => ({
        snapshotId: snapshot.id,
        invocationId: s.invocationId,
        stepName: s.stepName,
        config: s,
      })),
    );
  }
  const run = await store.createRun({
    name: options.runName ?? defaultRunName(definition.name),
    pipelineName: definition.name,
    snapshotId: snapshot.id,
    stackName: stack.name,
    isDynamic: definition.isDynamic,
    enableCache: options.enableCache !== false,
    status: "initializing",
    scheduleName: options.schedule?.name ?? null,
    scheduledFor: options.schedule?.plannedFor ?? null,
  });
  const environment = { WEIR_HOME: home, WEIR_RUN_ID: run.id, WEIR_STACK: stack.name };
  try {
    const submit = definition.isDynamic ? orchestrator.submitDynamicPipeline : orchestrator.submitPipeline;
    const submission = await submit.call(orchestrator, snapshot, stack, environment, run);
    await submission?.waitForCompletion?.();
  } catch (error) {
    await failRun(store, run.id, error);
  }
  return finishedRun(store, run.id);
}

/** `weir runs resume RUN` / `p.resume(runId)`: continue a failed or interrupted run in place. */
export async function resumeRun(
  runId: string,
  options: { stack?: string | Stack; pipeline?: PipelineDefinition },
): Promise<PipelineRun> {
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
    await orchestrateRun({ runId, stack, orchestrator: stack.orchestrator, home, resume: true });
  } catch (error) {
    await failRun(store, runId, error);
  }
  return finishedRun(store, runId);
}

async function failRun(store: MetadataStore, runId: string, error: unknown): Promise<void> {
  const cause = error instanceof Error ? error : new Error(String(error));
  runCauses.set(runId, cause);
  await store.updateRun(runId, { status: "failed", error: cause.message, endedAt: Date.now() });
}

async function finishedRun(store: MetadataStore, runId: string): Promise<PipelineRun> {
  const record = await store.getRun(runId);
  if (!record) throw new RunNotFoundError(`run ${runId} disappeared from the metadata store`);
  const view = await buildRunView(store, record);
  const cause = runCauses.get(runId);
  runCauses.delete(runId);
  if (cause) Object.defineProperty(view, "cause", { value: cause, enumerable: false });
  return view;
}

function checkParameters(definition: PipelineDefinition, params: unknown): void {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new PipelineDefinitionError(`pipeline "${definition.name}": parameters must be an object of named values`);
  }
  for (const [key, value] of Object.entries(params)) {
    const problem = jsonProblem(value);
    if (problem) {
      throw new PipelineDefinitionError(`pipeline "${definition.name}": parameter "${key}" is not JSON-serializable (${problem})`);
    }
  }
}

/** `pipeline-20261121T110402-3f9a`: sortable by time, unique even for runs started in the same second. */
function defaultRunName(pipelineName: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  return `${pipelineName}-${stamp}-${randomBytes(2).toString("hex")}`;
}
