import { format } from "node:util";
import { activeStepContext, runInStepContext, type StepContext } from "../authoring/context.js";
import { checkMappingKey, isDynamicOutput, type DynamicOutput } from "../authoring/dynamic-output.js";
import { MaterializerError, StepTimeoutError } from "../authoring/errors.js";
import type { ResourceSettings } from "../authoring/resources.js";
import type { StepDefinition } from "../authoring/step.js";
import { loadStoredArtifact, materialize } from "../materializers/io.js";
import { describeType, type MaterializerRegistry } from "../materializers/registry.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import { NOT_IN_MEMORY, type ArtifactRef, type AttemptHooks, type AttemptResult, type ResolvedArg, type StepTask } from "./launcher.js";

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
 * The context of one running attempt: what `getStepContext()` gives the step, and (as the
 * ambient value of weir's AsyncLocalStorage) how stdout and stderr find the step they
 * belong to. `log` and `addMetadata` are made on first use (most steps use neither), bound,
 * so that they work destructured too.
 */
class AttemptContext implements StepContext {
  readonly runId: string;
  readonly stepName: string;
  readonly mappingKey: string | undefined;
  readonly attempt: number;
  readonly resources: ResourceSettings;
  /** What the step added with addMetadata (made on the first call: most steps add none). */
  metadata: Record<string, unknown> | undefined;
  private logFn: ((...parts: unknown[]) => void) | undefined;
  private addMetadataFn: ((record: Record<string, unknown>) => void) | undefined;

  constructor(task: StepTask, hooks: AttemptHooks) {
    this.runId = task.runId;
    this.stepName = task.invocationId;
    this.mappingKey = task.mappingKey;
    this.attempt = task.attempt;
    this.resources = task.resources;
    this.metadata = undefined;
    this.logFn = undefined;
    this.addMetadataFn = undefined;
    this[CAPTURE] = hooks;
  }

  get log(): (...parts: unknown[]) => void {
    const hooks = this[CAPTURE];
    return (this.logFn ??= (...parts) => hooks.onLog("log", format(...parts)));
  }

  get addMetadata(): (record: Record<string, unknown>) => void {
    return (this.addMetadataFn ??= (record) => void Object.assign((this.metadata ??= {}), record));
  }

  /** Marks it as a step context for context.ts (on the prototype: users do not see it in their context). */
  get ambientKind(): "step" {
    return "step";
  }

  /** The hooks that the step's stdout and stderr lines go to. */
  declare [CAPTURE]: AttemptHooks;
}

// Shared through Symbol.for: the one patched stdout must find the contexts of every weir copy in the process.
const CAPTURE = Symbol.for("weir.outputCapture.hooks");

/**
 * Runs one attempt of one step in this process: loads its inputs, calls the user's
 * function inside its step context, and writes its outputs to the artifact store.
 * Metadata is not written here; the engine records what this returns. The same code runs
 * in the caller's process (local orchestrator) and in a step process (process orchestrator).
 *
 * An attempt that can run to its end without waiting (a synchronous function whose inputs
 * are in memory, an artifact store that saves small values synchronously) returns its result
 * directly rather than a promise: the engine's per-step cost is mostly promises otherwise.
 * Errors are thrown or rejected the same way either way.
 */
export function executeStep(
  step: StepDefinition,
  task: StepTask,
  hooks: AttemptHooks,
  env: Omit<ExecutionEnvironment, "loadArtifact">,
): AttemptResult | Promise<AttemptResult> {
  const args = argumentsInMemory(task.args, hooks);
  if (args !== undefined) return runStep(step, task, hooks, env, args);
  return Promise.all(task.args.map((arg) => resolveArg(arg, hooks))).then((loaded) => runStep(step, task, hooks, env, loaded));
}

function runStep(
  step: StepDefinition,
  task: StepTask,
  hooks: AttemptHooks,
  env: Omit<ExecutionEnvironment, "loadArtifact">,
  args: unknown[],
): AttemptResult | Promise<AttemptResult> {
  const context = new AttemptContext(task, hooks);
  installOutputCapture();
  try {
    const returned = runInStepContext(context as AttemptContext & { ambientKind: "step" }, step.fn, ...args);
    if (task.dynamicOutput) {
      // The producer's own code runs while its items are iterated: in its step context too.
      return runInStepContext(context as AttemptContext & { ambientKind: "step" }, produceItems, task, hooks, env, context, returned).catch((error) =>
        failed(error, context),
      );
    }
    if (isThenable(returned)) {
      return Promise.resolve(returned).then(
        (value) => finish(task, hooks, env, context, value),
        (error) => failed(error, context),
      );
    }
    return finish(task, hooks, env, context, returned);
  } catch (error) {
    return failed(error, context);
  }
}

/** The output of a regular step, stored; the attempt's result. */
function finish(
  task: StepTask,
  hooks: AttemptHooks,
  env: Omit<ExecutionEnvironment, "loadArtifact">,
  context: AttemptContext,
  value: unknown,
): AttemptResult | Promise<AttemptResult> {
  abandoned(task, hooks);
  const output = materialize(value, task, env, null, {});
  if (output instanceof Promise) {
    return output.then(
      (stored) => (abandoned(task, hooks), { output: stored, metadata: context.metadata ?? {} }),
      (error) => failed(error, context),
    );
  }
  return { output, metadata: context.metadata ?? {} };
}

/**
 * Dynamic output: store and report each item as soon as it is yielded, so mapped steps
 * can start before the generator ends (streaming map).
 */
async function produceItems(
  task: StepTask,
  hooks: AttemptHooks,
  env: Omit<ExecutionEnvironment, "loadArtifact">,
  context: AttemptContext,
  returned: unknown,
): Promise<AttemptResult> {
  const seen = new Set<string>();
  for await (const item of iterateDynamicOutputs(task, await returned)) {
    abandoned(task, hooks);
    const key = checkMappingKey(task.invocationId, item.mappingKey, seen);
    const produced = await materialize(item.value, task, env, key, item.metadata);
    abandoned(task, hooks);
    await hooks.onItem(produced);
  }
  return { metadata: context.metadata ?? {} };
}

/** An attempt the launcher gave up on (timed out) must not go on storing outputs. */
function abandoned(task: StepTask, hooks: AttemptHooks): void {
  if (hooks.signal.aborted) throw hooks.signal.reason ?? new StepTimeoutError(`step "${task.invocationId}" was abandoned`);
}

/** Rethrows, keeping what the step recorded before it failed with its step run. */
function failed(error: unknown, context: AttemptContext): never {
  if (error instanceof Error && context.metadata) failureMetadata.set(error, context.metadata);
  throw error;
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

/** The arguments when every one is a literal or a value in memory (no waiting), else undefined. */
function argumentsInMemory(args: ResolvedArg[], hooks: AttemptHooks): unknown[] | undefined {
  const values = new Array<unknown>(args.length);
  for (let i = 0; i < args.length; i++) {
    const value = argumentInMemory(args[i], hooks);
    if (value === NOT_IN_MEMORY) return undefined;
    values[i] = value;
  }
  return values;
}

function argumentInMemory(arg: ResolvedArg, hooks: AttemptHooks): unknown {
  if ("list" in arg) {
    const values = new Array<unknown>(arg.list.length);
    for (let i = 0; i < arg.list.length; i++) {
      const value = argumentInMemory(arg.list[i], hooks);
      if (value === NOT_IN_MEMORY) return NOT_IN_MEMORY;
      values[i] = value;
    }
    return values;
  }
  // An omitted argument ({ value: undefined }) arrives as {} from another process.
  if (!("artifact" in arg)) return (arg as { value?: unknown }).value;
  const value = hooks.inMemory ? hooks.inMemory(arg.artifact) : NOT_IN_MEMORY;
  if (value === NOT_IN_MEMORY || arg.index === undefined) return value;
  return (value as unknown[])[arg.index];
}

async function resolveArg(arg: ResolvedArg, hooks: AttemptHooks): Promise<unknown> {
  if ("list" in arg) return Promise.all(arg.list.map((item) => resolveArg(item, hooks)));
  if (!("artifact" in arg)) return (arg as { value?: unknown }).value;
  const value = await hooks.loadArtifact(arg.artifact);
  if (arg.index === undefined) return value;
  return (value as unknown[])[arg.index];
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

// ---- stdout/stderr capture ----------------------------------------------------------
// In-process steps share stdout; AsyncLocalStorage tells which step wrote each chunk, so
// every orchestrator stores logs per step run. Output still reaches the terminal.

const globals = globalThis as unknown as Record<symbol, unknown>;
const INSTALLED = Symbol.for("weir.outputCapture");

function installOutputCapture(): void {
  if (globals[INSTALLED]) return;
  globals[INSTALLED] = true;
  for (const stream of ["stdout", "stderr"] as const) {
    const target = process[stream];
    const original = target.write.bind(target) as (...args: unknown[]) => boolean;
    target.write = ((chunk: unknown, ...rest: unknown[]) => {
      const hooks = (activeStepContext() as { [CAPTURE]?: AttemptHooks } | undefined)?.[CAPTURE];
      if (hooks) hooks.onLog(stream, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      return original(chunk, ...rest);
    }) as typeof target.write;
  }
}
