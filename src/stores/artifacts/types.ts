/**
 * The artifact store keeps the bytes of every value passed between steps. The metadata
 * store only references them by URI and content hash.
 *
 * Implementations must make `write` safe against a crash half-way: a reader never sees
 * a torn file under the final URI (write elsewhere, then rename), because the metadata
 * row that makes an artifact visible is only written after `write` resolves.
 */
export interface ArtifactStore {
  /** Human-readable name, e.g. the component name in a stack. */
  readonly name: string;
  /** Flavor used when the store is registered in a stack (`local`, `s3`, …). */
  readonly flavor: string;
  /** Root URI every artifact lives under (a path for the local store). */
  readonly root: string;
  /** A fresh URI for a value: unique per run, step run, output and item. */
  uriFor(parts: { runId: string; invocationId: string; outputName: string; mappingKey?: string | null }): string;
  write(uri: string, bytes: Uint8Array): Promise<void>;
  read(uri: string): Promise<Uint8Array>;
  exists(uri: string): Promise<boolean>;
  remove(uri: string): Promise<void>;
}
