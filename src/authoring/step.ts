import { createHash } from "node:crypto";
import { currentPipelineScope, type StepContext } from "./context.js";
import { MapInputError, StepDefinitionError } from "./errors.js";
import { Handle, isHandle, Unmapped, type CallOptions } from "./handles.js";
import { validateResources, type ResourceSettings, type ResourceSettingsInput } from "./resources.js";
import type { DynamicOutput } from "./dynamic-output.js";
import { callerModule } from "./source.js";

export interface RetryPolicy {
  /** Attempts after the first one (0: no retry). */
  maxRetries?: number;
  /** Wait before the first retry. */
  delayMs?: number;
  /** Multiplier of the delay for each further retry (1: constant). */
  backoff?: number;
}

export interface StepSettings {
  resources?: ResourceSettingsInput;
  /** Component-specific settings, e.g. `"orchestrator.local_process"`. */
  [component: string]: unknown;
}

export interface StepOptions {
  name?: string;
  settings?: StepSettings;
  retry?: RetryPolicy;
  timeoutMs?: number;
  enableCache?: boolean;
  /**
   * Stands for the step's code in its cache key: while it stays the same, edits to the
   * step and to what it imports keep cached results (default: the source is hashed).
   */
  cacheVersion?: string;
  /** The step is a (sync or async) generator of DynamicOutput items, or returns an array of them. */
  dynamicOutput?: boolean;
  onSuccess?: (context: StepContext) => void | Promise<void>;
  onFailure?: (context: StepContext, error: Error) => void | Promise<void>;
  /** Invocation id of this call (`withOptions({ id })`). */
  id?: string;
  /** Ordering-only dependencies (`withOptions({ after: [handle] })`). */
  after?: readonly unknown[];
}

/** Everything the engine needs to know about a step, fixed at definition time. */
export interface StepDefinition {
  readonly name: string;
  readonly fn: (...args: any[]) => unknown;
  readonly options: Readonly<StepOptions>;
  readonly resources: ResourceSettings;
  readonly dynamicOutput: boolean;
  /** The module that defined the step, so another process can import it. */
  readonly module: string | undefined;
  /** Hash of the function's source text: part of the cache key. */
  readonly codeHash: string;
  /** Tells apart steps with the same name in one module (see `variantOf`). */
  readonly variant: number;
}

// ---- user-facing types -------------------------------------------------------------

/** A step output inside a pipeline: awaitable in dynamic pipelines, passable to steps. */
export interface OutputHandle<T> extends PromiseLike<T> {
  /** Dagster-style map over a DynamicOutput (or mapped) handle. */
  map<R>(fn: (item: OutputHandle<ItemOf<T>>) => R): MappedHandle<HandleValue<R>>;
  collect(): OutputHandle<ItemOf<T>[]>;
}

/** The output of a `dynamicOutput` step: items to map over or collect; awaiting gives all values. */
export interface DynamicOutputHandle<T> extends PromiseLike<T[]> {
  map<R>(fn: (item: OutputHandle<T>) => R): MappedHandle<HandleValue<R>>;
  collect(): OutputHandle<T[]>;
}

/** Per-item results of a map: map them again or collect them. */
export interface MappedHandle<T> {
  map<R>(fn: (item: OutputHandle<T>) => R): MappedHandle<HandleValue<R>>;
  collect(): OutputHandle<T[]>;
}

type ItemOf<T> = T extends readonly (infer E)[] ? E : T;
type HandleValue<R> = R extends PromiseLike<infer V> ? V : R;

/** What a step argument accepts inside a pipeline: the value, a handle of it, or (for lists) a list of either. */
export type Input<T> =
  | T
  | OutputHandle<T>
  | (T extends readonly (infer E)[] ? readonly (E | OutputHandle<E>)[] : never);
export type StepArgs<A extends unknown[]> = { [K in keyof A]: Input<A[K]> };
type MapArgs<A extends unknown[]> = {
  [K in keyof A]: readonly Input<A[K]>[] | OutputHandle<A[K][]> | Unmapped<Input<A[K]>>;
};

/** A fan-out over data: plain arrays give handles at once; a list handle must be awaited first. */
export type FanOut<R, M extends unknown[]> = true extends { [K in keyof M]: M[K] extends PromiseLike<unknown> ? true : never }[number]
  ? Promise<OutputHandle<R>[]>
  : OutputHandle<R>[];

interface StepMembers<A extends unknown[], Out> {
  readonly stepName: string;
  readonly definition: StepDefinition;
  /** The user's function, unwrapped. */
  readonly entrypoint: (...args: A) => unknown;
  /** A copy of the step with some options replaced (ZenML's `with_options`). */
  withOptions(options: Partial<StepOptions>): this;
  /** ZenML-style fan-out: one call per item (zip over lists; `unmapped(x)` is passed whole). */
  map<M extends MapArgs<A>>(...args: M): FanOut<Out, M>;
  /** One call per combination of the list arguments. */
  product<M extends MapArgs<A>>(...args: M): FanOut<Out, M>;
}

export interface Step<A extends unknown[], R> extends StepMembers<A, R> {
  (...args: StepArgs<A>): OutputHandle<R>;
}

export interface DynamicStep<A extends unknown[], T> extends StepMembers<A, T[]> {
  (...args: StepArgs<A>): DynamicOutputHandle<T>;
}

type DynamicOutputSource<T> =
  | AsyncIterable<DynamicOutput<T>>
  | Iterable<DynamicOutput<T>>
  | Promise<readonly DynamicOutput<T>[]>;

// ---- definition --------------------------------------------------------------------

const STEP_OPTION_KEYS = new Set<keyof StepOptions>([
  "name",
  "settings",
  "retry",
  "timeoutMs",
  "enableCache",
  "cacheVersion",
  "dynamicOutput",
  "onSuccess",
  "onFailure",
  "id",
  "after",
]);

export function step<A extends unknown[], T>(
  options: StepOptions & { dynamicOutput: true },
  fn: (...args: A) => DynamicOutputSource<T>,
): DynamicStep<A, T>;
export function step<A extends unknown[], R>(fn: (...args: A) => R): Step<A, Awaited<R>>;
export function step<A extends unknown[], R>(options: StepOptions, fn: (...args: A) => R): Step<A, Awaited<R>>;
export function step(
  optionsOrFn: StepOptions | ((...args: any[]) => unknown),
  maybeFn?: (...args: any[]) => unknown,
): unknown {
  const [options, fn] =
    typeof optionsOrFn === "function" ? [{} as StepOptions, optionsOrFn] : [optionsOrFn ?? {}, maybeFn];
  if (typeof fn !== "function") {
    throw new StepDefinitionError("step() needs a function: step(fn) or step(options, fn)");
  }
  return makeStep(defineStep(options, fn, callerModule()));
}

function defineStep(options: StepOptions, fn: (...args: any[]) => unknown, module: string | undefined): StepDefinition {
  const name = options.name ?? fn.name;
  if (!name || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) {
    throw new StepDefinitionError(
      name
        ? `step name "${name}" is not usable: use letters, digits, "_", "-" or "." and start with a letter or "_"`
        : "a step needs a name: pass a named function or step({ name: \"…\" }, fn)",
    );
  }
  for (const key of Object.keys(options)) {
    if (!STEP_OPTION_KEYS.has(key as keyof StepOptions)) {
      throw new StepDefinitionError(`step "${name}": unknown option "${key}"`);
    }
  }
  const { settings = {}, retry, timeoutMs } = options;
  if (typeof settings !== "object" || settings === null) {
    throw new StepDefinitionError(`step "${name}": settings must be an object`);
  }
  const resources = validateResources(name, settings.resources);
  if (retry !== undefined) {
    const check = (field: keyof RetryPolicy, ok: (v: number) => boolean, what: string) => {
      const v = retry[field];
      if (v !== undefined && (typeof v !== "number" || !ok(v))) {
        throw new StepDefinitionError(`step "${name}": retry.${field} must be ${what}, got ${JSON.stringify(v)}`);
      }
    };
    check("maxRetries", (v) => Number.isInteger(v) && v >= 0, "a whole number ≥ 0");
    check("delayMs", (v) => Number.isFinite(v) && v >= 0, "a number of milliseconds ≥ 0");
    check("backoff", (v) => Number.isFinite(v) && v >= 1, "a number ≥ 1");
  }
  if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0))) {
    throw new StepDefinitionError(`step "${name}": timeoutMs must be a positive number, got ${JSON.stringify(timeoutMs)}`);
  }
  if (options.cacheVersion !== undefined && typeof options.cacheVersion !== "string") {
    throw new StepDefinitionError(`step "${name}": cacheVersion must be a string, got ${JSON.stringify(options.cacheVersion)}`);
  }
  for (const hook of ["onSuccess", "onFailure"] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== "function") {
      throw new StepDefinitionError(`step "${name}": ${hook} must be a function`);
    }
  }
  const codeHash = createHash("sha256").update(fn.toString()).digest("hex").slice(0, 32);
  const definition: StepDefinition = {
    name,
    fn,
    options: { ...options, name },
    resources,
    dynamicOutput: options.dynamicOutput === true,
    module,
    codeHash,
    variant: variantOf(module, name, codeHash),
  };
  registerStep(definition);
  return definition;
}

function makeStep(definition: StepDefinition): Step<unknown[], unknown> {
  const call: CallOptions = { id: definition.options.id, after: definition.options.after };
  const callable = function (...args: unknown[]): unknown {
    const scope = currentPipelineScope();
    // Outside a pipeline (or inside a running step) a step is just its function.
    if (!scope) return definition.fn(...args);
    return scope.builder.addStep(definition, args, call, scope);
  } as Step<unknown[], unknown>;
  Object.defineProperties(callable, {
    name: { value: definition.name },
    stepName: { value: definition.name, enumerable: true },
    definition: { value: definition },
    entrypoint: { value: definition.fn },
  });
  const members: Pick<StepMembers<unknown[], unknown>, "withOptions" | "map" | "product"> = {
    withOptions(overrides: Partial<StepOptions>) {
      const merged: StepOptions = { ...definition.options, ...overrides };
      if (overrides.settings) merged.settings = { ...definition.options.settings, ...overrides.settings };
      // A renamed copy is a new step; an id/after override keeps the same step.
      const next = defineStep(merged, definition.fn, definition.module);
      return makeStep(next);
    },
    map(...args: unknown[]) {
      return fanOut(callable, definition, args, "zip");
    },
    product(...args: unknown[]) {
      return fanOut(callable, definition, args, "product");
    },
  } as never;
  return Object.assign(callable, members);
}

// ---- ZenML-style fan-out -----------------------------------------------------------

function fanOut(
  callable: (...args: unknown[]) => unknown,
  definition: StepDefinition,
  args: unknown[],
  mode: "zip" | "product",
): unknown {
  const scope = currentPipelineScope();
  const listHandles = args.filter((a) => isHandle(a)) as Handle[];
  if (listHandles.length > 0) {
    if (!scope?.builder.isDynamic) {
      throw new MapInputError(
        `step "${definition.name}": map/product over a step output needs a dynamic pipeline ` +
          "(its length is only known at run time); pass a plain array, or declare the pipeline with dynamic: true",
      );
    }
    // The lists are loaded in the orchestration process, then one call per item is made
    // with the item passed as a reference to the list artifact (nothing is copied).
    return Promise.all(args.map((a) => (isHandle(a) ? a.then((v) => ({ handle: a, value: v })) : a))).then(
      (resolved) => expand(callable, definition, resolved, mode),
    );
  }
  return expand(callable, definition, args, mode);
}

function expand(
  callable: (...args: unknown[]) => unknown,
  definition: StepDefinition,
  args: unknown[],
  mode: "zip" | "product",
): unknown[] {
  const lists: { index: number; items: unknown[] }[] = [];
  args.forEach((arg, index) => {
    if (arg instanceof Unmapped) return;
    const fromHandle = isLoadedHandle(arg);
    const value = fromHandle ? arg.value : arg;
    if (!Array.isArray(value)) {
      throw new MapInputError(
        `step "${definition.name}": argument ${index} of map/product must be a list (or wrapped in unmapped(…)), got ${typeof value}`,
      );
    }
    const items = fromHandle
      ? value.map((_, i) => elementHandle(arg.handle, i))
      : value;
    lists.push({ index, items });
  });
  if (lists.length === 0) {
    throw new MapInputError(`step "${definition.name}": map/product needs at least one list argument`);
  }
  for (const list of lists) {
    if (list.items.length === 0) {
      throw new MapInputError(`step "${definition.name}": cannot map over an empty list (argument ${list.index})`);
    }
  }
  const base = args.map((a) => (a instanceof Unmapped ? a.value : a));
  const combos: unknown[][] = [];
  if (mode === "zip") {
    const length = lists[0].items.length;
    const unequal = lists.find((l) => l.items.length !== length);
    if (unequal) {
      throw new MapInputError(
        `step "${definition.name}": map zips its lists, but argument ${lists[0].index} has ${length} items ` +
          `and argument ${unequal.index} has ${unequal.items.length}; use product() for every combination`,
      );
    }
    for (let i = 0; i < length; i++) {
      const call = [...base];
      for (const list of lists) call[list.index] = list.items[i];
      combos.push(call);
    }
  } else {
    let partial: unknown[][] = [[...base]];
    for (const list of lists) {
      partial = partial.flatMap((call) => list.items.map((item) => Object.assign([...call], { [list.index]: item })));
    }
    combos.push(...partial);
  }
  return combos.map((call) => callable(...call));
}

function isLoadedHandle(value: unknown): value is { handle: Handle; value: unknown } {
  return typeof value === "object" && value !== null && "handle" in value && isHandle((value as { handle: unknown }).handle);
}

function elementHandle(list: Handle, index: number): Handle {
  if (list.ref.kind !== "output") {
    throw new MapInputError(`map/product can only index the whole output of a step, not ${list.ref.kind} handles`);
  }
  return new Handle(list.builder, { kind: "element", node: list.ref.node, index });
}

// ---- registry: lets a fresh process find a step by module, name and variant ---------------

const REGISTRY = Symbol.for("weir.steps");
interface StepRegistry {
  definitions: Map<string, StepDefinition>;
  /** Code hashes seen per `module#name`, in definition order: a step's variant is its index. */
  codes: Map<string, string[]>;
}
const globals = globalThis as unknown as Record<symbol, StepRegistry | undefined>;
const registry: StepRegistry = (globals[REGISTRY] ??= { definitions: new Map(), codes: new Map() });

/**
 * Two steps with the same name in one module are told apart by their variant: 0 for the
 * first code defined under that name, 1 for the next different code, … A fresh process
 * importing the module defines them in the same order, so (module, name, variant) finds
 * the function the pipeline called, whatever the transpiler did to its source text.
 * Defining the same code again (withOptions, a module imported twice) keeps its variant.
 */
function variantOf(module: string | undefined, name: string, codeHash: string): number {
  const key = `${module ?? ""}#${name}`;
  const codes = registry.codes.get(key) ?? [];
  registry.codes.set(key, codes);
  let variant = codes.indexOf(codeHash);
  if (variant < 0) variant = codes.push(codeHash) - 1;
  return variant;
}

function registerStep(definition: StepDefinition): void {
  const key = `${definition.module ?? ""}#${definition.name}`;
  registry.definitions.set(`${key}#${definition.variant}`, definition);
  registry.definitions.set(key, definition);
  if (!registry.definitions.has(`#${definition.name}`)) registry.definitions.set(`#${definition.name}`, definition);
}

/** Finds a step defined in `module` (already imported) by name and variant (default: the newest definition). */
export function lookupStep(module: string | undefined, name: string, variant?: number): StepDefinition | undefined {
  const key = `${module ?? ""}#${name}`;
  const exact = variant === undefined ? undefined : registry.definitions.get(`${key}#${variant}`);
  return exact ?? registry.definitions.get(key) ?? registry.definitions.get(`#${name}`);
}

export function isStep(value: unknown): value is Step<unknown[], unknown> {
  return typeof value === "function" && "definition" in value && "stepName" in value;
}
