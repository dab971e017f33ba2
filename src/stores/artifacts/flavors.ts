import { StackError } from "../../authoring/errors.js";
import type { ComponentRecord } from "../metadata/types.js";
import type { ArtifactStore } from "./types.js";

/**
 * The one registry of artifact-store flavors: how a component record (flavor, name, config)
 * becomes a store. Registry only, no implementation: presets and resolve.ts register the
 * flavors, and the stack module, readers and step processes all build stores through it.
 */

/** Builds a store from its recorded config; `config()` of the result equals the config given. */
export type ArtifactStoreFactory = (config: Record<string, unknown>, name: string) => ArtifactStore;

const flavors = new Map<string, ArtifactStoreFactory>();

/** Makes a flavor usable in stacks and readable from records (`s3`: see stores/artifacts/s3). */
export function registerArtifactStoreFlavor(flavor: string, factory: ArtifactStoreFactory): void {
  flavors.set(flavor, factory);
  built.clear();
}

export function artifactStoreFlavorNames(): string[] {
  return [...flavors.keys()];
}

export function hasArtifactStoreFlavor(flavor: string): boolean {
  return flavors.has(flavor);
}

/**
 * Stores already built, by flavor, name and config: one client (S3 connections, open packs)
 * per store and process, however many artifacts are read through it.
 */
const built = new Map<string, ArtifactStore>();

export function artifactStoreFromComponent(record: Pick<ComponentRecord, "flavor" | "name" | "config">): ArtifactStore {
  const cacheKey = JSON.stringify([record.flavor, record.name, record.config]);
  const cached = built.get(cacheKey);
  if (cached) return cached;
  const factory = flavors.get(record.flavor);
  if (!factory) {
    const known = artifactStoreFlavorNames();
    const hint = known.length === 0 ? 'none are registered: import "weir" first, whose preset registers the built-in flavors' : `known: ${known.join(", ")}`;
    throw new StackError(`artifact store "${record.name}" has flavor "${record.flavor}", which is unknown here (${hint})`);
  }
  const store = factory(record.config ?? {}, record.name);
  built.set(cacheKey, store);
  return store;
}
