import { createHash } from "node:crypto";
import type { StepDefinition } from "../authoring/step.js";
import type { MaterializerRegistry } from "../materializers/registry.js";
import type { ResolvedArg } from "./launcher.js";

/** Settings that only say where or how long a step runs; they cannot change its outputs. */
const NON_RESULT_SETTINGS = new Set(["resources"]);

/**
 * The cache key of a step run: the step's code, its parameters, the content of its input
 * artifacts, the materializers that can store its outputs, and the configuration that
 * can change what it returns. Two step runs with the same key produce the same outputs.
 */
export function cacheKeyOf(step: StepDefinition, args: ResolvedArg[], materializers: MaterializerRegistry): string {
  const hash = createHash("sha256");
  hash.update(`step:${step.name}\ncode:${step.codeHash}\ndynamic:${step.dynamicOutput}\n`);
  hash.update(`materializers:${materializers.names().join(",")}\n`);
  const settings = Object.entries(step.options.settings ?? {})
    .filter(([key]) => !NON_RESULT_SETTINGS.has(key))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  hash.update(`settings:${JSON.stringify(settings)}\n`);
  const describe = (arg: ResolvedArg): unknown => {
    if ("value" in arg) return { v: arg.value };
    if ("list" in arg) return arg.list.map(describe);
    return { h: arg.artifact.contentHash, i: arg.index };
  };
  hash.update(`args:${JSON.stringify(args.map(describe))}`);
  return hash.digest("hex");
}
