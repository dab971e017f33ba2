import { PipelineDefinitionError, PipelineRunFailedError } from "./errors.js";
import { validateParameters, type ParamsInput, type ParamsOutput, type ParamsSchema } from "./params.js";
import { callerModule } from "./source.js";
import type { CompiledSnapshot } from "../engine/compile.js";
import type { PipelineRun, RunOptions } from "../api/run.js";
import type { ScheduleOptions } from "../schedules/create.js";
import type { ScheduleRecord } from "../stores/metadata/types.js";

/** Information given to pipeline-level hooks. */
export interface PipelineHookInfo {
  runId: string;
  pipelineName: string;
  status: "completed" | "failed";
}

export interface PipelineOptions {
  name?: string;
  /** The pipeline function runs during execution and discovers the graph as it goes. */
  dynamic?: boolean;
  /**
   * Schema of the pipeline's parameters (zod: `params: z.object({ epochs: z.number() })`,
   * or any Standard Schema): it types the callable, `.run()` and the pipeline function, and
   * every submission is checked against it (PipelineParameterError names the parameter).
   */
  params?: ParamsSchema;
  /** Default for every step of this pipeline (a step's own setting wins when false). */
  enableCache?: boolean;
  onSuccess?: (info: PipelineHookInfo) => void | Promise<void>;
  onFailure?: (info: PipelineHookInfo, error: Error) => void | Promise<void>;
}

export interface PipelineDefinition {
  readonly name: string;
  readonly fn: (params: any) => unknown;
  readonly options: Readonly<PipelineOptions>;
  readonly isDynamic: boolean;
  readonly module: string | undefined;
}

/** Replaces handles by their values, deeply: what calling a pipeline resolves to. */
export type Loaded<T> = T extends PromiseLike<infer V>
  ? Loaded<V>
  : T extends readonly unknown[]
    ? { [K in keyof T]: Loaded<T[K]> }
    : T extends Record<string, unknown>
      ? { [K in keyof T]: Loaded<T[K]> }
      : T;

// Parameters that are all optional (schema defaults) may be left out.
type Params<P> = P extends undefined ? [params?: Record<string, never>] : Record<never, never> extends P ? [params?: P] : [params: P];
type OptionalParams<P> = P extends undefined ? Record<string, never> | undefined : P;

export interface Pipeline<P = Record<string, unknown> | undefined, R = unknown> {
  /** Runs the pipeline on the active stack; resolves to its return value, or rejects with PipelineRunFailedError. */
  (...params: Params<P>): Promise<Loaded<R>>;
  readonly pipelineName: string;
  readonly isDynamic: boolean;
  readonly definition: PipelineDefinition;
  /** Runs the pipeline and resolves to the run record, whatever its final status. */
  run(params?: OptionalParams<P>, options?: RunOptions): Promise<PipelineRun>;
  /** The snapshot a run would use, running nothing (dynamic pipelines have no steps up front). */
  compile(params?: OptionalParams<P>): Promise<CompiledSnapshot>;
  /** Continues a failed or interrupted run of this pipeline in place. */
  resume(runId: string, options?: Pick<RunOptions, "stack">): Promise<PipelineRun>;
  /** Registers a cron schedule for this pipeline in the metadata store; `weir scheduler` or `weir server` fires it. */
  schedule(options: ScheduleOptions): Promise<ScheduleRecord>;
}

export function pipeline<P = undefined, R = unknown>(fn: (params: P) => R): Pipeline<P, R>;
export function pipeline<S extends ParamsSchema, R = unknown>(
  options: Omit<PipelineOptions, "params"> & { params: S },
  fn: (params: ParamsOutput<S>) => R,
): Pipeline<ParamsInput<S>, R>;
export function pipeline<P = undefined, R = unknown>(options: PipelineOptions, fn: (params: P) => R): Pipeline<P, R>;
export function pipeline(
  optionsOrFn: PipelineOptions | ((params: any) => unknown),
  maybeFn?: (params: any) => unknown,
): Pipeline<any, any> {
  const [options, fn] =
    typeof optionsOrFn === "function" ? [{} as PipelineOptions, optionsOrFn] : [optionsOrFn ?? {}, maybeFn];
  if (typeof fn !== "function") {
    throw new PipelineDefinitionError("pipeline() needs a function: pipeline(fn) or pipeline(options, fn)");
  }
  const name = options.name ?? fn.name;
  if (!name || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
    throw new PipelineDefinitionError(
      name
        ? `pipeline name "${name}" is not usable: use letters, digits, "_", "-" or "."`
        : 'a pipeline needs a name: pass a named function or pipeline({ name: "…" }, fn)',
    );
  }
  const definition: PipelineDefinition = {
    name,
    fn,
    options: { ...options, name },
    isDynamic: options.dynamic === true,
    module: callerModule(),
  };
  if (options.params !== undefined && typeof options.params?.["~standard"]?.validate !== "function") {
    throw new PipelineDefinitionError(
      `pipeline "${name}": params must be a schema such as z.object({ … }) from zod (any Standard Schema works)`,
    );
  }
  registerPipeline(definition);
  // Submissions check their parameters here, before the engine records anything.
  const checked = (params: Record<string, unknown> | undefined) => parsePipelineParameters(definition, params ?? {});

  const callable = async (params?: Record<string, unknown>) => {
    const run = await runner().run(definition, await checked(params), {});
    if (run.status !== "completed") {
      throw new PipelineRunFailedError(
        run.id,
        run.steps.filter((s) => s.status === "failed").map((s) => s.name),
        `pipeline "${name}" run ${run.id} failed: ${run.error ?? "unknown error"}`,
        { cause: run.cause },
      );
    }
    return run.output();
  };
  Object.defineProperties(callable, {
    name: { value: name },
    pipelineName: { value: name, enumerable: true },
    isDynamic: { value: definition.isDynamic, enumerable: true },
    definition: { value: definition },
  });
  return Object.assign(callable, {
    async run(params?: Record<string, unknown>, runOptions?: RunOptions) {
      return runner().run(definition, await checked(params), runOptions ?? {});
    },
    async compile(params?: Record<string, unknown>) {
      return runner().compile(definition, await checked(params));
    },
    async resume(runId: string, runOptions?: Pick<RunOptions, "stack">) {
      return runner().resume(runId, { ...runOptions, pipeline: definition });
    },
    async schedule(scheduleOptions: ScheduleOptions) {
      return runner().schedule(definition, scheduleOptions);
    },
  }) as unknown as Pipeline<any, any>;
}

/**
 * A submission's parameters as the pipeline function will get them: checked against the
 * pipeline's `params` schema (PipelineParameterError) and parsed (defaults applied); as
 * given when it has none. Anything that submits a definition directly calls this first.
 */
export function parsePipelineParameters(definition: PipelineDefinition, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const schema = definition.options.params;
  return schema ? validateParameters(definition.name, schema, params) : Promise.resolve(params);
}

// ---- the runner: what the callables do, handed in by the preset (no engine import here) ----

/** Runs, compiles and resumes pipelines (api/run.ts; registered by presets/default.ts). */
export interface PipelineRunner {
  run(definition: PipelineDefinition, params: Record<string, unknown>, options: RunOptions): Promise<PipelineRun>;
  compile(definition: PipelineDefinition, params: Record<string, unknown>): Promise<CompiledSnapshot>;
  resume(runId: string, options: Pick<RunOptions, "stack"> & { pipeline: PipelineDefinition }): Promise<PipelineRun>;
  schedule(definition: PipelineDefinition, options: ScheduleOptions): Promise<ScheduleRecord>;
}

let pipelineRunner: PipelineRunner | undefined;

export function registerPipelineRunner(runner: PipelineRunner): void {
  pipelineRunner = runner;
}

function runner(): PipelineRunner {
  if (!pipelineRunner) {
    throw new PipelineDefinitionError('pipelines cannot run yet: import "weir" (its preset registers the runner), not only its authoring modules');
  }
  return pipelineRunner;
}

// ---- registry: lets an orchestration process find the pipeline of a snapshot -------------

const REGISTRY = Symbol.for("weir.pipelines");
const globals = globalThis as unknown as Record<symbol, Map<string, PipelineDefinition> | undefined>;
const registry: Map<string, PipelineDefinition> = (globals[REGISTRY] ??= new Map());

function registerPipeline(definition: PipelineDefinition): void {
  registry.set(`${definition.module ?? ""}#${definition.name}`, definition);
}

export function lookupPipeline(module: string | undefined, name: string): PipelineDefinition | undefined {
  return registry.get(`${module ?? ""}#${name}`);
}

export function isPipeline(value: unknown): value is Pipeline<any, any> {
  return typeof value === "function" && "definition" in value && "pipelineName" in value;
}
