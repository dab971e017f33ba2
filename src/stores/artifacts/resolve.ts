import { dirname, isAbsolute } from "node:path";

import { ArtifactStoreError, StackError } from "../../authoring/errors.js";
import type { ArtifactVersionRecord, MetadataStore } from "../metadata/types.js";
import { parseUri } from "./keys.js";
import { LocalArtifactStore } from "./local/local-artifact-store.js";
import { artifactStoreFlavorNames, artifactStoreFromComponent, hasArtifactStoreFlavor, registerArtifactStoreFlavor } from "./flavors.js";
import type { ArtifactStore } from "./types.js";

export { artifactStoreFlavorNames, artifactStoreFromComponent, registerArtifactStoreFlavor, type ArtifactStoreFactory } from "./flavors.js";

/**
 * Artifact stores rebuilt from their component record (flavor, name, config). Every artifact
 * version names the store that holds it, so any process (the Client, a step process, a
 * second machine) reads it through the right store. No stack or engine import: the stack
 * module and presets register flavors here, readers only resolve.
 */

// The built-in local flavor is readable without any preset (older rows, plain readers); a
// preset may register it again with its config schema.
if (!artifactStoreFlavorNames().includes("local")) {
  registerArtifactStoreFlavor("local", (config, name) => new LocalArtifactStore({ path: requiredString(config, "path", "local", name), name }));
}

/**
 * The store holding an artifact version: the component its row names; for rows that name
 * none (written before migration 3), a registered store whose root holds the URI, else a
 * local store at the URI's folder (local URIs are absolute paths).
 */
export async function resolveArtifactStore(
  store: Pick<MetadataStore, "getComponent" | "listComponents">,
  version: Pick<ArtifactVersionRecord, "id" | "uri" | "artifactStoreId">,
): Promise<ArtifactStore> {
  const id = version.artifactStoreId;
  if (id) {
    const component = await store.getComponent(id);
    if (!component) {
      throw new ArtifactStoreError(
        `artifact version ${version.id} is held by artifact store ${id}, which is not registered in this metadata store`,
      );
    }
    return artifactStoreFromComponent(component);
  }
  const { object } = parseUri(version.uri);
  for (const component of await store.listComponents()) {
    if (component.type !== "artifact_store" || !hasArtifactStoreFlavor(component.flavor)) continue;
    let candidate: ArtifactStore;
    try {
      candidate = artifactStoreFromComponent(component);
    } catch {
      continue; // a malformed record of some other store must not stop this lookup
    }
    if (object.startsWith(candidate.root + "/")) return candidate;
  }
  // Not cached: one store per run folder of old rows would pile up, and building one costs nothing.
  if (isAbsolute(object)) return new LocalArtifactStore({ path: dirname(object) });
  throw new ArtifactStoreError(
    `no artifact store can read artifact version ${version.id} (${version.uri}): its row names no store and no registered store holds that uri`,
  );
}

/** A required string field of a component's config, or an error naming the store and the field. */
export function requiredString(config: Record<string, unknown>, field: string, flavor: string, name: string): string {
  const value = config[field];
  if (typeof value !== "string" || value === "") {
    throw new StackError(`${flavor} artifact store "${name}" needs "${field}" (a non-empty string) in its config, got ${JSON.stringify(value)}`);
  }
  return value;
}
