import { createHash } from "node:crypto";
import { sourceHashOf } from "../authoring/source.js";
import type { StepDefinition } from "../authoring/step.js";
import type { MaterializerRegistry } from "../materializers/registry.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { ResolvedArg } from "./launcher.js";

/** Settings that only say where or how long a step runs; they cannot change its outputs. */
const NON_RESULT_SETTINGS = new Set(["resources"]);

/**
 * The cache key of a step run: the step's code (or its `cacheVersion`), its parameters,
 * the content of its input artifacts, the materializers that can store its outputs, the
 * configuration that can change what it returns, and the artifact store its outputs are
 * written to. Two step runs with the same key produce the same outputs, readable from the
 * store of the run that asks.
 */
export function cacheKeyOf(
  step: StepDefinition,
  args: ResolvedArg[],
  materializers: MaterializerRegistry,
  artifactStore: ArtifactStore,
): string {
  const hash = createHash("sha256");
  hash.update(`step:${step.name}\ncode:${codeOf(step)}\ndynamic:${step.dynamicOutput}\n`);
  hash.update(`materializers:${materializers.names().join(",")}\n`);
  const settings = Object.entries(step.options.settings ?? {})
    .filter(([key]) => !NON_RESULT_SETTINGS.has(key))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  hash.update(`settings:${JSON.stringify(settings)}\n`);
  hash.update(`artifacts:${artifactStoreIdentity(artifactStore)}\n`);
  const describe = (arg: ResolvedArg): unknown => {
    if ("value" in arg) return { v: arg.value };
    if ("list" in arg) return arg.list.map(describe);
    return { h: arg.artifact.contentHash, i: arg.index };
  };
  hash.update(`args:${JSON.stringify(args.map(describe))}`);
  return hash.digest("hex");
}

/**
 * What stands for the step's code. A `cacheVersion` replaces the source entirely (the user
 * says when results change); otherwise the function's own text plus the source of its
 * module and the local files that module imports, so that editing a helper invalidates it.
 */
function codeOf(step: StepDefinition): string {
  const version = step.options.cacheVersion;
  if (version !== undefined) return `version:${version}`;
  return step.module === undefined ? step.codeHash : `${step.codeHash}+${sourceHashOf(step.module)}`;
}

const identities = new WeakMap<ArtifactStore, string>();

/**
 * Which store holds the outputs: a hit found in another artifact store (another stack) is a
 * miss, since this run reads and links artifacts in its own store. Flavor and config say
 * which store it is (the root where a store has no config()); the name is only a label.
 */
function artifactStoreIdentity(store: ArtifactStore): string {
  let identity = identities.get(store);
  if (identity === undefined) {
    const config = (store as { config?: () => Record<string, unknown> }).config?.() ?? { root: store.root };
    identity = `${store.flavor}:${stableJson(config)}`;
    identities.set(store, identity);
  }
  return identity;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
