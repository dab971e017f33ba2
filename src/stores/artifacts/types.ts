/** What an artifact is the value of: one output (or one dynamic-output item) of one step run. */
export interface ArtifactKey {
  runId: string;
  invocationId: string;
  outputName: string;
  mappingKey?: string | null;
}

/**
 * The artifact store keeps the bytes of every value passed between steps. The metadata
 * store only references them by URI and content hash.
 *
 * `save` resolves to the URI only once the bytes are completely stored, and a URI is only
 * ever recorded in metadata after that: a crash half-way through a save leaves at most
 * unreferenced bytes behind, never a torn value that something points to.
 */
export interface ArtifactStore {
  /** Human-readable name, e.g. the component name in a stack. */
  readonly name: string;
  /** Flavor used when the store is registered in a stack (`local`, `s3`, …). */
  readonly flavor: string;
  /** Root URI every artifact lives under (a path for the local store). */
  readonly root: string;
  /** Stores one value's bytes; resolves to the URI to read them back by. */
  save(key: ArtifactKey, bytes: Uint8Array): Promise<string>;
  /**
   * Optional: stores the bytes now, as `save` would, and returns the URI; or returns
   * undefined, having stored nothing, when these bytes need `save` (too large, remote). A
   * step that ends without waiting then costs no promise to store its output.
   */
  saveSync?(key: ArtifactKey, bytes: Uint8Array): string | undefined;
  read(uri: string): Promise<Uint8Array>;
  exists(uri: string): Promise<boolean>;
  /**
   * What rebuilds this store elsewhere: the component record's config, handed back to its
   * flavor's factory (`artifactStoreFromComponent`). Plain JSON, never credentials.
   */
  config(): Record<string, unknown>;
  /**
   * Removes the bytes of these artifacts (`weir runs delete`); URIs already gone are ignored.
   * A pack shared by several artifacts goes only when the URIs of one call cover all of it:
   * a pack with an artifact still referenced (say, by another run's cache hit) stays whole.
   */
  delete?(uris: string[]): Promise<void>;
}
