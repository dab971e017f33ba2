import { MapInputError, StepArgumentError } from "../authoring/errors.js";
import { describeRef, inScope, isHandle, type GraphBuilder, type HandleRef } from "../authoring/handles.js";
import type { StepDefinition } from "../authoring/step.js";

/**
 * How one positional argument of a step call is wired: a literal parameter, a reference
 * to (part of) another step's output, or a list mixing both (fan-in). This is what the
 * snapshot and the step run record, and what a step process receives.
 */
export type ArgSpec = { param: unknown } | { ref: HandleRef } | { list: ArgSpec[] };

/**
 * Turns the arguments of a step call made at `scopePath` into ArgSpecs, checking that
 * literals are JSON and that handles belong to this scope. Literals are copied: a step
 * runs with the value it was called with (the one recorded and hashed), not a later
 * mutation. An explicit `undefined` means omitted, as in TypeScript: trailing ones are
 * dropped, others are passed as `undefined` and recorded as absent.
 */
export function encodeArgs(step: StepDefinition, args: unknown[], builder: GraphBuilder, scopePath: string): ArgSpec[] {
  let length = args.length;
  while (length > 0 && args[length - 1] === undefined) length -= 1;
  const specs: ArgSpec[] = [];
  for (let index = 0; index < length; index++) specs.push(encodeArg(step, args[index], index, builder, scopePath, true));
  return specs;
}

function encodeArg(
  step: StepDefinition,
  arg: unknown,
  index: number,
  builder: GraphBuilder,
  scopePath: string,
  topLevel: boolean,
): ArgSpec {
  if (isHandle(arg)) {
    if (arg.builder !== builder) {
      throw new StepArgumentError(
        `step "${step.name}": ${argumentName(step, index)} is a handle from another pipeline run`,
      );
    }
    if (!inScope(scopePath, arg.scope)) {
      throw new MapInputError(
        `step "${step.name}": ${argumentName(step, index)} is the ${describeRef(arg.ref)}, made inside the map ` +
          `expansion [${arg.scope}], used outside the map function it belongs to; ` +
          "return it from the map function and use the mapped handle (or .collect()) instead",
      );
    }
    return { ref: arg.ref };
  }
  if (topLevel && Array.isArray(arg) && arg.some(isHandle)) {
    return { list: arg.map((item) => encodeArg(step, item, index, builder, scopePath, false)) };
  }
  if (topLevel && arg === undefined) return { param: undefined };
  const problem = jsonProblem(arg);
  if (problem !== undefined) {
    throw new StepArgumentError(
      `step "${step.name}": ${argumentName(step, index)} is not JSON-serializable (${problem}); ` +
        "parameters must be JSON values — pass other values as step outputs",
    );
  }
  // Primitives are immutable; objects and arrays are copied as JSON (what a step process gets too).
  return { param: typeof arg === "object" && arg !== null ? JSON.parse(JSON.stringify(arg)) : arg };
}

/** References made by an argument list, in order (for upstream edges and lineage). */
export function refsOf(specs: ArgSpec[], refs: HandleRef[] = []): HandleRef[] {
  // Called for every step (twice for a static one): a plain loop, no closure per call.
  for (const spec of specs) {
    if ("ref" in spec) refs.push(spec.ref);
    else if ("list" in spec) refsOf(spec.list, refs);
  }
  return refs;
}

/** The literal arguments, recorded as the step run's parameters (`{ batchId: 3 }`). */
export function parametersOf(step: StepDefinition, specs: ArgSpec[]): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  specs.forEach((spec, index) => {
    if ("param" in spec && spec.param !== undefined) parameters[parameterNames(step)[index] ?? `arg${index}`] = spec.param;
  });
  return parameters;
}

function argumentName(step: StepDefinition, index: number): string {
  const name = parameterNames(step)[index];
  return name ? `argument "${name}" (position ${index})` : `argument ${index}`;
}

const namesCache = new WeakMap<StepDefinition, string[]>();
/** Best-effort parameter names from the function's source, for readable records and errors. */
function parameterNames(step: StepDefinition): string[] {
  let names = namesCache.get(step);
  if (names) return names;
  const source = step.fn.toString();
  const match = /^[^(]*\(([^)]*)\)/.exec(source) ?? /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  names = (match?.[1] ?? "")
    .split(",")
    .map((p) => p.trim().replace(/[:=].*$/s, "").replace(/^\.\.\./, "").trim())
    .map((p) => (/^[A-Za-z_$][\w$]*$/.test(p) ? p : ""));
  namesCache.set(step, names);
  return names;
}

/** Why a value is not plain JSON, or undefined when it is. */
export function jsonProblem(value: unknown, seen?: Set<unknown>): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `the number ${value}`;
    case "undefined":
      return "undefined";
    case "bigint":
      return "a bigint";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (value === null) return undefined;
  // Made for the first object only: most arguments are primitives (checked for every step call).
  seen ??= new Set<unknown>();
  if (seen.has(value)) return "a circular reference";
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (const item of value) {
        const problem = jsonProblem(item, seen);
        if (problem) return problem;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      return `an instance of ${(value as object).constructor?.name ?? "a class"}`;
    }
    for (const item of Object.values(value as object)) {
      // An optional property left undefined is omitted, as JSON.stringify does.
      if (item === undefined) continue;
      const problem = jsonProblem(item, seen);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}
