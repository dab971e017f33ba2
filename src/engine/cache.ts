import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { CacheHitRecords, MetadataStore, StepOutputLink, StepRunRecord } from "../stores/metadata/types.js";
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
  const records = store.findCacheHitRecords ? await store.findCacheHitRecords(cacheKey) : await cacheHitRecords(store, cacheKey);
  if (!records) return undefined;
  const outputs: CacheHit["outputs"] = [];
  for (const { link, version } of records.outputs) {
    if (!version || !(await artifacts.exists(version.uri))) return undefined;
    outputs.push({ link, artifact: artifactRefOf(version) });
  }
  return { original: records.original, outputs };
}

/** The records of a hit through the store's separate reads (stores without findCacheHitRecords). */
async function cacheHitRecords(store: MetadataStore, cacheKey: string): Promise<CacheHitRecords | undefined> {
  const original = await store.findCachedStepRun(cacheKey);
  if (!original) return undefined;
  const links = await store.listStepOutputs(original.id);
  const versions = await Promise.all(links.map((l) => store.getArtifactVersion(l.artifactVersionId)));
  return { original, outputs: links.map((link, i) => ({ link, version: versions[i] })) };
}
