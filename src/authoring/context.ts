import { AsyncLocalStorage } from "node:async_hooks";
import type { ResourceSettings } from "./resources.js";
import type { GraphBuilder } from "./handles.js";

/**
 * Two kinds of ambient context, both carried by AsyncLocalStorage:
 * - while a pipeline function runs, step calls go to its graph builder (compile or live run);
 * - while a step function runs, `getStepContext()` answers and step calls are plain calls.
 *
 * The storage lives on globalThis so that two copies of this module in one process (the
 * source tree in tests and the built package a user file imports) still agree.
 */
export interface PipelineScope {
  builder: GraphBuilder;
  /** Mapping-key path of the map expansion being built ("" at the top level). */
  mappingPath: string;
  /** The live engine's state of that expansion (how its step calls are named); opaque here. */
  expansion?: object;
}

export interface StepContext {
  runId: string;
  /** The invocation id of this step run (`train`, `train_2`, `process[a_txt]`). */
  stepName: string;
  mappingKey: string | undefined;
  attempt: number;
  resources: ResourceSettings;
  /** Records a log line for this step run (also visible in `weir logs`). */
  log(...parts: unknown[]): void;
  /** Adds metadata to this step run's record. */
  addMetadata(record: Record<string, unknown>): void;
}

/**
 * What the storage holds: a pipeline scope (wrapped), or the running step's context itself.
 * A step context that is to be the ambient carries `ambientKind: "step"` (see
 * engine/executor.ts): one object per attempt, no wrapper, on the per-step path.
 */
type Ambient = { ambientKind: "pipeline"; scope: PipelineScope } | (StepContext & { ambientKind: "step" });

const KEY = Symbol.for("weir.ambient");
const globals = globalThis as unknown as Record<symbol, AsyncLocalStorage<Ambient> | undefined>;
const storage: AsyncLocalStorage<Ambient> = (globals[KEY] ??= new AsyncLocalStorage<Ambient>());

export function currentPipelineScope(): PipelineScope | undefined {
  const ambient = storage.getStore();
  return ambient?.ambientKind === "pipeline" ? ambient.scope : undefined;
}

export function runInPipelineScope<T>(scope: PipelineScope, fn: () => T): T {
  return storage.run({ ambientKind: "pipeline", scope }, fn);
}

/** Calls `fn(...args)` with `context` as the step context (of its async chain too). */
export function runInStepContext<A extends unknown[], T>(context: StepContext & { ambientKind: "step" }, fn: (...args: A) => T, ...args: A): T {
  return storage.run(context, fn, ...args);
}

/** Inside a running step: its context. Elsewhere: an error saying so. */
export function getStepContext(): StepContext {
  const ambient = storage.getStore();
  if (ambient?.ambientKind !== "step") {
    throw new Error("getStepContext() was called outside a running step");
  }
  return ambient;
}

/** The step context if a step is running in this async chain, for log capture. */
export function activeStepContext(): StepContext | undefined {
  const ambient = storage.getStore();
  return ambient?.ambientKind === "step" ? ambient : undefined;
}
