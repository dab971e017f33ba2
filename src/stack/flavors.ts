import type { ZodTypeAny } from "zod";
import { StackError } from "../authoring/errors.js";
import type { BaseOrchestrator } from "../orchestrators/base.js";
import {
  artifactStoreFlavorNames as registeredArtifactStoreFlavors,
  artifactStoreFromComponent,
  registerArtifactStoreFlavor as registerReadableArtifactStore,
} from "../stores/artifacts/flavors.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import { checkComponentConfig } from "./config.js";

// How registered component rows become objects. Registries only: the implementations are
// registered by a preset (src/presets/default.ts), so nothing here loads an orchestrator
// or a store, and a backend plugs in by registering its flavor.

export type OrchestratorFactory = (config: Record<string, unknown>) => BaseOrchestrator;
export type ArtifactStoreFactory = (config: Record<string, unknown>, name: string) => ArtifactStore;

interface Flavor<F> {
  create: F;
  /** Checked when a stack with this flavor is registered or rebuilt from its record. */
  schema?: ZodTypeAny;
}

const orchestratorFlavors = new Map<string, Flavor<OrchestratorFactory>>();

/** Makes a flavor usable in registered stacks (`weir stack register --orchestrator FLAVOR`). */
export function registerOrchestratorFlavor(flavor: string, create: OrchestratorFactory, options: { schema?: ZodTypeAny } = {}): void {
  orchestratorFlavors.set(flavor, { create, schema: options.schema });
}

/**
 * Makes a flavor usable in registered stacks (`weir stack register --artifact-store FLAVOR`).
 * Artifact stores have one registry, in stores/artifacts/resolve.ts, which readers (the
 * Client, step processes) use without the stack module; the config check is added here.
 */
export function registerArtifactStoreFlavor(flavor: string, create: ArtifactStoreFactory, options: { schema?: ZodTypeAny } = {}): void {
  const { schema } = options;
  registerReadableArtifactStore(flavor, (config, name) => {
    if (schema) checkComponentConfig(schema, config, `artifact store "${name}" (${flavor})`);
    return create(config, name);
  });
}

export function orchestratorFlavorNames(): string[] {
  return [...orchestratorFlavors.keys()];
}
export function artifactStoreFlavorNames(): string[] {
  return registeredArtifactStoreFlavors();
}

/** An orchestrator of a registered flavor, its config checked first. */
export function createOrchestrator(flavor: string, config: Record<string, unknown>, name: string): BaseOrchestrator {
  const entry = lookup(orchestratorFlavors, "orchestrator", flavor);
  if (entry.schema) checkComponentConfig(entry.schema, { ...config, name }, `orchestrator "${name}" (${flavor})`);
  return entry.create({ ...config, name });
}

/** An artifact store of a registered flavor, its config checked first. */
export function createArtifactStore(flavor: string, config: Record<string, unknown>, name: string): ArtifactStore {
  return artifactStoreFromComponent({ flavor, config, name });
}

function lookup<F>(flavors: Map<string, Flavor<F>>, what: string, flavor: string): Flavor<F> {
  const entry = flavors.get(flavor);
  if (entry) return entry;
  const known = [...flavors.keys()];
  const hint = known.length === 0 ? 'none are registered: import "weir" first, whose preset registers the built-in flavors' : `known: ${known.join(", ")}`;
  throw new StackError(`${what} flavor "${flavor}" is unknown here (${hint})`);
}
