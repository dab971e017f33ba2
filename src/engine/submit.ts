import { randomBytes } from "node:crypto";
import { PipelineDefinitionError, RunNameTakenError } from "../authoring/errors.js";
import type { PipelineDefinition } from "../authoring/pipeline.js";
import { projectRoot, recordedModulePath } from "../config/project.js";
import { ownerId } from "../stores/metadata/liveness.js";
import type { MetadataStore, RunRecord, SnapshotRecord } from "../stores/metadata/types.js";
import { jsonProblem } from "./args.js";
import { compilePipeline, type CompiledSnapshot } from "./compile.js";
import { runCauses } from "./orchestrate.js";

/** `p.compile(params)`: the snapshot, running nothing. */
export async function compileDefinition(definition: PipelineDefinition, params: Record<string, unknown>): Promise<CompiledSnapshot> {
  checkParameters(definition, params);
  if (definition.isDynamic) return { pipelineName: definition.name, isDynamic: true, parameters: params, steps: {} };
  return (await compilePipeline(definition.name, definition.fn, params)).snapshot;
}

/**
 * The rows a submission starts from: the snapshot (with the static graph's step
 * configurations) and the run, `initializing`, owned by this process from the start (so a
 * run whose submitter dies before it starts is seen to be dead at once). Submitting it to an
 * orchestrator is the caller's part (api/run.ts).
 */
export async function createRun(
  store: MetadataStore,
  definition: PipelineDefinition,
  params: Record<string, unknown>,
  options: { stackName: string; runName?: string; runId?: string; enableCache?: boolean; schedule?: { name: string; plannedFor: number } },
): Promise<{ snapshot: SnapshotRecord; run: RunRecord }> {
  const compiled = await compileDefinition(definition, params);
  const name = options.runName ?? defaultRunName(definition.name);
  if (options.runName !== undefined) await checkRunNameFree(store, definition, options.runName);
  const snapshot = await store.createSnapshot({
    pipelineName: definition.name,
    isDynamic: definition.isDynamic,
    parameters: params,
    // Relative to the project root, so another machine or image with the same files finds it.
    source: { module: recordedModulePath(definition.module) ?? "", exportName: definition.name, root: projectRoot() },
    // A static snapshot's step configurations are these steps: readers list them from the
    // spec (listStepConfigurations), so they are not written again as a row each.
    spec: { steps: compiled.steps },
  });
  const run = await store.createRun({
    id: options.runId,
    name,
    pipelineName: definition.name,
    snapshotId: snapshot.id,
    stackName: options.stackName,
    isDynamic: definition.isDynamic,
    enableCache: options.enableCache !== false,
    status: "initializing",
    owner: ownerId(),
    heartbeatAt: Date.now(),
    scheduleName: options.schedule?.name ?? null,
    scheduledFor: options.schedule?.plannedFor ?? null,
  });
  return { snapshot, run };
}

/** Records a run as failed with the error that stopped it (kept in `runCauses` for `await p()`). */
export async function failRun(store: MetadataStore, runId: string, error: unknown): Promise<void> {
  const cause = error instanceof Error ? error : new Error(String(error));
  runCauses.set(runId, cause);
  await store.updateRun(runId, { status: "failed", error: cause.message, endedAt: Date.now() });
}

/**
 * Run names identify runs (`weir runs show NAME`, `client.getRun(name)`), so a name given
 * with `runName` must be new; generated names are unique by construction.
 */
async function checkRunNameFree(store: MetadataStore, definition: PipelineDefinition, runName: string): Promise<void> {
  if (!runName.trim()) throw new PipelineDefinitionError(`pipeline "${definition.name}": runName must not be empty`);
  const findRuns = (store as { findRuns?: (q: { name: string }) => Promise<RunRecord[]> }).findRuns;
  const taken =
    typeof findRuns === "function"
      ? (await findRuns.call(store, { name: runName }))[0]
      : (await store.listRuns({ limit: 1_000_000 })).find((r) => r.name === runName);
  if (taken) {
    throw new RunNameTakenError(
      `pipeline "${definition.name}": a run named "${runName}" already exists (run ${taken.id} of "${taken.pipelineName}"); ` +
        "run names identify runs, so give this run another name or leave runName out for a generated one",
    );
  }
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
