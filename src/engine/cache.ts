import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { ArtifactVersionRecord, MetadataStore, StepOutputLink, StepRunRecord } from "../stores/metadata/types.js";
import { artifactRefOf, type ArtifactRef } from "./launcher.js";

/** An earlier step run with the same cache key, and its outputs (all still loadable). */
export interface CacheHit {
  original: StepRunRecord;
  outputs: { link: StepOutputLink; artifact: ArtifactRef }[];
}

/**
 * The cache across runs: the newest completed step run with this key, if every one of its
 * outputs is still recorded and still in the artifact store (else it is a miss).
 */
export async function findCacheHit(store: MetadataStore, artifacts: ArtifactStore, cacheKey: string): Promise<CacheHit | undefined> {
  const original = await store.findCachedStepRun(cacheKey);
  if (!original) return undefined;
  const links = await store.listStepOutputs(original.id);
  const versions = await Promise.all(links.map((l) => store.getArtifactVersion(l.artifactVersionId)));
  if (versions.some((v) => !v)) return undefined;
  for (const v of versions as ArtifactVersionRecord[]) if (!(await artifacts.exists(v.uri))) return undefined;
  return { original, outputs: links.map((link, i) => ({ link, artifact: artifactRefOf(versions[i]!) })) };
}
