import { HandleValueError, StaticPipelineValueError } from "./errors.js";
import { currentPipelineScope, type PipelineScope } from "./context.js";
import type { StepDefinition } from "./step.js";

/**
 * What a handle points at inside a run's graph:
 * - `output`: the whole output of a step run (by invocation id);
 * - `element`: one element of a list output (ZenML-style `step.map` over a list handle);
 * - `item`: one DynamicOutput item of a step run, inside a map expansion;
 * - `mapped`: the per-item results of a map (can be mapped again or collected);
 * - `collected`: those results gathered into one list, in emission order.
 */
export type HandleRef =
  | { kind: "output"; node: string }
  | { kind: "element"; node: string; index: number }
  | { kind: "item"; node: string; key: string }
  | { kind: "mapped"; group: string }
  | { kind: "collected"; group: string };

/** Extra per-call options from `step.withOptions({ id, after })`. */
export interface CallOptions {
  id?: string;
  after?: readonly unknown[];
}

/**
 * A graph builder receives the step calls of a pipeline function. There are two: the
 * compiler (symbolic, for `compile()` and static snapshots) and the run engine (live).
 */
export interface GraphBuilder {
  readonly pipelineName: string;
  /** `compile` and `static` builders refuse to give handle values. */
  readonly isDynamic: boolean;
  addStep(step: StepDefinition, args: unknown[], call: CallOptions, scope: PipelineScope): Handle;
  map(source: Handle, fn: (item: Handle) => unknown, scope: PipelineScope): Handle;
  collect(source: Handle, scope: PipelineScope): Handle;
  /** The loaded value of a handle (dynamic runs only). */
  valueOf(handle: Handle): Promise<unknown>;
}

const HANDLE = Symbol.for("weir.handle");

/** The runtime object behind every handle type users see. */
export class Handle<T = unknown> implements PromiseLike<T> {
  readonly [HANDLE] = true;

  constructor(
    readonly builder: GraphBuilder,
    readonly ref: HandleRef,
    /** Mapping path of the map expansion that made it ("" at the top level): it belongs there. */
    readonly scope = "",
  ) {}

  then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return (this.builder.valueOf(this) as Promise<T>).then(onFulfilled, onRejected);
  }

  /** Clones `fn` (a step, or a function calling several steps) for each item. */
  map(fn: (item: Handle) => unknown): Handle {
    return this.builder.map(this, fn, scopeOf(this.builder));
  }

  /** Gathers every item (or every mapped result) into one list, in emission order. */
  collect(): Handle {
    return this.builder.collect(this, scopeOf(this.builder));
  }

  [Symbol.toPrimitive](): never {
    throw valueUseError(this);
  }
  toString(): never {
    throw valueUseError(this);
  }
  valueOf(): never {
    throw valueUseError(this);
  }
  toJSON(): never {
    throw valueUseError(this);
  }
}

export function isHandle(value: unknown): value is Handle {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[HANDLE] === true;
}

/** Whether code running at `path` may use a handle made in the expansion at `scope` (same or nested). */
export function inScope(path: string, scope: string): boolean {
  return scope === "" || path === scope || path.startsWith(`${scope}.`);
}

export function describeRef(ref: HandleRef): string {
  switch (ref.kind) {
    case "output":
      return `output of step "${ref.node}"`;
    case "element":
      return `element ${ref.index} of step "${ref.node}"`;
    case "item":
      return `item "${ref.key}" of step "${ref.node}"`;
    case "mapped":
      return `mapped results of "${ref.group}"`;
    case "collected":
      return `collected results of "${ref.group}"`;
  }
}

function valueUseError(handle: Handle): Error {
  if (!handle.builder.isDynamic) return staticValueError(handle.builder.pipelineName, handle.ref);
  return new HandleValueError(
    `the ${describeRef(handle.ref)} in pipeline "${handle.builder.pipelineName}" is a handle, not a value: ` +
      "use `await handle` to get its value before comparing, converting or doing arithmetic with it",
  );
}

export function staticValueError(pipelineName: string, ref: HandleRef): StaticPipelineValueError {
  return new StaticPipelineValueError(
    `pipeline "${pipelineName}" is static, so the ${describeRef(ref)} has no value while the graph is built; ` +
      `declare it with pipeline({ dynamic: true }, …) to await, compare or compute with step outputs`,
  );
}

/** `map`/`collect` belong to the pipeline function (or map expansion) that is running now. */
function scopeOf(builder: GraphBuilder): PipelineScope {
  const scope = currentPipelineScope();
  if (!scope || scope.builder !== builder) {
    throw new HandleValueError(
      `map() and collect() of pipeline "${builder.pipelineName}" handles can only be called while its pipeline function runs`,
    );
  }
  return scope;
}

/** `unmapped(x)`: pass the same value to every mapped call (ZenML's `unmapped`). */
export class Unmapped<T = unknown> {
  constructor(readonly value: T) {}
}
export function unmapped<T>(value: T): Unmapped<T> {
  return new Unmapped(value);
}

/**
 * Awaits what a pipeline function returned when it is a real promise (async function),
 * but keeps a returned handle as it is: awaiting a handle would ask for its value. The
 * result is wrapped because resolving a promise with a handle would await it too.
 */
export function settle(value: unknown): Promise<{ value: unknown }> {
  if (isHandle(value)) return Promise.resolve({ value });
  return Promise.resolve(value).then((resolved) => ({ value: resolved }));
}
