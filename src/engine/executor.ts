import { format } from "node:util";
import { activeStepContext, runInStepContext, type StepContext } from "../authoring/context.js";
import { checkMappingKey, isDynamicOutput, type DynamicOutput } from "../authoring/dynamic-output.js";
import { MaterializerError, StepTimeoutError } from "../authoring/errors.js";
import type { StepDefinition } from "../authoring/step.js";
import { loadStoredArtifact, materialize } from "../materializers/io.js";
import { describeType, type MaterializerRegistry } from "../materializers/registry.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { ArtifactRef, AttemptHooks, AttemptResult, ResolvedArg, StepTask } from "./launcher.js";

// Moved to materializers/io.ts (the Client reads values without the engine); re-exported for existing callers.
export { loadStoredArtifact, materialize };

/** What running a step needs besides the task: where values live and how to (de)serialize them. */
export interface ExecutionEnvironment {
  artifacts: ArtifactStore;
  materializers: MaterializerRegistry;
  /** Loads a stored value (in-process runs answer from memory when they can). */
  loadArtifact(ref: ArtifactRef): Promise<unknown>;
}

/**
 * Runs one attempt of one step in this process: loads its inputs, calls the user's
 * function inside its step context, and writes its outputs to the artifact store.
 * Metadata is not written here; the engine records what this returns. The same code runs
 * in the caller's process (local orchestrator) and in a step process (process orchestrator).
 */
export async function executeStep(
  step: StepDefinition,
  task: StepTask,
  hooks: AttemptHooks,
  env: ExecutionEnvironment,
): Promise<AttemptResult> {
  // Most arguments are literals: only wait when something has to be loaded.
  const args = task.args.every((arg) => "value" in arg)
    ? task.args.map((arg) => (arg as { value: unknown }).value)
    : await Promise.all(task.args.map((arg) => resolveArg(arg, env)));
  const metadata: Record<string, unknown> = {};
  const context: StepContext = {
    runId: task.runId,
    stepName: task.invocationId,
    mappingKey: task.mappingKey,
    attempt: task.attempt,
    resources: task.resources,
    log: (...parts: unknown[]) => hooks.onLog("log", format(...parts)),
    addMetadata: (record) => Object.assign(metadata, record),
  };
  captures.set(context, hooks.onLog);
  installOutputCapture();

  const abandoned = () => {
    if (hooks.signal.aborted) throw hooks.signal.reason ?? new StepTimeoutError(`step "${task.invocationId}" was abandoned`);
  };

  return runInStepContext(context, async () => {
    try {
      const returned = await step.fn(...args);
      abandoned();
      if (!task.dynamicOutput) {
        const output = await materialize(returned, task, env, null, {});
        abandoned();
        return { output, metadata };
      }
      // Dynamic output: store and report each item as soon as it is yielded, so mapped
      // steps can start before the generator ends (streaming map).
      const seen = new Set<string>();
      for await (const item of iterateDynamicOutputs(task, returned)) {
        abandoned();
        const key = checkMappingKey(task.invocationId, item.mappingKey, seen);
        const produced = await materialize(item.value, task, env, key, item.metadata);
        abandoned();
        await hooks.onItem(produced);
      }
      return { metadata };
    } catch (error) {
      // What the step recorded before it failed stays with its step run.
      if (error instanceof Error && Object.keys(metadata).length > 0) failureMetadata.set(error, metadata);
      throw error;
    }
  });
}

const failureMetadata = new WeakMap<Error, Record<string, unknown>>();

/** The metadata an in-process attempt added before it threw `error` (empty if none). */
export function metadataOfFailure(error: Error): Record<string, unknown> {
  return failureMetadata.get(error) ?? {};
}

async function* iterateDynamicOutputs(task: StepTask, returned: unknown): AsyncGenerator<DynamicOutput> {
  const source = returned as AsyncIterable<unknown> | Iterable<unknown> | null;
  const isIterable =
    source !== null &&
    typeof source === "object" &&
    (Symbol.asyncIterator in source || Symbol.iterator in source) &&
    typeof source !== "string";
  if (!isIterable) {
    throw new MaterializerError(
      `step "${task.invocationId}" is declared dynamicOutput but returned ${describeType(returned)}; ` +
        "yield DynamicOutput items from a generator or return an array of them",
    );
  }
  for await (const item of source as AsyncIterable<unknown>) {
    if (!isDynamicOutput(item)) {
      throw new MaterializerError(
        `step "${task.invocationId}" is declared dynamicOutput but produced ${describeType(item)}; ` +
          "every item must be a new DynamicOutput(value, { mappingKey })",
      );
    }
    yield item;
  }
}

async function resolveArg(arg: ResolvedArg, env: ExecutionEnvironment): Promise<unknown> {
  if ("list" in arg) return Promise.all(arg.list.map((item) => resolveArg(item, env)));
  // An omitted argument ({ value: undefined }) arrives as {} from another process.
  if (!("artifact" in arg)) return (arg as { value?: unknown }).value;
  const value = await env.loadArtifact(arg.artifact);
  if (arg.index === undefined) return value;
  return (value as unknown[])[arg.index];
}

// ---- stdout/stderr capture ----------------------------------------------------------
// In-process steps share stdout; AsyncLocalStorage tells which step wrote each chunk, so
// every orchestrator stores logs per step run. Output still reaches the terminal.

// Shared through globalThis: the one patched stdout must find the contexts of every weir copy in the process.
const globals = globalThis as unknown as Record<symbol, unknown>;
const captures = (globals[Symbol.for("weir.outputCaptures")] ??= new WeakMap()) as WeakMap<StepContext, AttemptHooks["onLog"]>;
const INSTALLED = Symbol.for("weir.outputCapture");

function installOutputCapture(): void {
  if (globals[INSTALLED]) return;
  globals[INSTALLED] = true;
  for (const stream of ["stdout", "stderr"] as const) {
    const target = process[stream];
    const original = target.write.bind(target) as (...args: unknown[]) => boolean;
    target.write = ((chunk: unknown, ...rest: unknown[]) => {
      const context = activeStepContext();
      const capture = context && captures.get(context);
      if (capture) capture(stream, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      return original(chunk, ...rest);
    }) as typeof target.write;
  }
}
