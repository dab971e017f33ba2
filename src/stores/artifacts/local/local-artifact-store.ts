import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

import type { ArtifactStore } from "../types.js";

/**
 * Files up to this size are written and read with the synchronous fs API; larger ones use
 * the promise API so a big model or data set does not block the event loop for long.
 *
 * Measured on Node 20 (2 cores, ext4/overlay, 200-byte files, 10,000 each):
 *   write temp + rename: sync 12–17k/s, async sequential 4.6–5.3k/s, async 10,000 in parallel 11–14k/s
 *   read:                sync 120–140k/s, async sequential 6–7k/s, async 10,000 in parallel 13.6k/s
 * Sync is ~3x faster for writes and ~20x for reads at the sizes step outputs usually have.
 * At 64 MiB both take about as long (write ~180 ms, read ~35 ms), so there only blocking matters.
 */
const SYNC_IO_MAX_BYTES = 1024 * 1024;

/**
 * Directories already known to exist (one per run). Bounded: when full it is simply
 * cleared, which only costs a few redundant mkdirs.
 */
const DIR_CACHE_MAX = 4096;

/**
 * Joins the parts of a flat file name. encodeURIComponent always escapes "+", so it never
 * occurs inside an encoded part and the name splits back into its parts unambiguously.
 */
const PART_SEPARATOR = "+";

/**
 * Longest flat file name (bytes; file systems allow 255). A longer one (deeply nested
 * mapping keys) falls back to one directory level per part, like the first layout.
 */
const FLAT_NAME_MAX = 240;

export class LocalArtifactStore implements ArtifactStore {
  readonly flavor = "local";
  readonly name: string;
  readonly root: string;

  private readonly rootPrefix: string;
  private readonly knownDirs = new Set<string>();
  private tempCounter = 0;

  constructor(options: { path: string; name?: string }) {
    this.name = options.name ?? "default";
    this.root = path.resolve(options.path);
    // path.resolve keeps a trailing separator only for a file system root such as "/".
    this.rootPrefix = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
  }

  /**
   * `<root>/<runId>/<invocationId>+<outputName>[+<mappingKey>]`, each part URI-encoded: one
   * directory per run and a flat file per artifact. Creating a directory costs as much as
   * creating a file, so a directory per step run would double the file system work of a
   * small step. A name longer than FLAT_NAME_MAX uses `<runId>/<invocationId>/<outputName>[/<mappingKey>]`
   * instead; the two cannot collide, as only flat names contain "+".
   */
  uriFor(parts: { runId: string; invocationId: string; outputName: string; mappingKey?: string | null }): string {
    const names = [parts.invocationId, parts.outputName];
    if (parts.mappingKey != null) names.push(parts.mappingKey);
    const encoded = names.map(encodeSegment);
    const run = encodeSegment(parts.runId);
    const flat = encoded.join(PART_SEPARATOR);
    if (Buffer.byteLength(flat) <= FLAT_NAME_MAX) return path.join(this.root, run, flat);
    return path.join(this.root, run, ...encoded);
  }

  async write(uri: string, bytes: Uint8Array): Promise<void> {
    const file = this.resolveInside(uri);
    const dir = path.dirname(file);
    // The temp file sits next to the target so the rename stays on one file system (atomic).
    // "@" never occurs in a name made by uriFor (encodeURIComponent escapes it), so a temp
    // file can't collide with an artifact.
    const temp = `${file}@tmp-${process.pid}-${this.tempCounter++}`;
    this.ensureDir(dir);
    try {
      try {
        await writeFile(temp, bytes);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // The directory vanished since it was cached (e.g. a run was deleted): recreate it once.
        this.knownDirs.delete(dir);
        this.ensureDir(dir);
        await writeFile(temp, bytes);
      }
      fs.renameSync(temp, file);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
    // No fsync: the metadata row that makes the artifact visible is written afterwards, and
    // after a crash the step simply runs again.
  }

  async read(uri: string): Promise<Uint8Array> {
    const file = this.resolveInside(uri);
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (error) {
      if (isNotFound(error)) throw new Error(`artifact not found: ${uri}`, { cause: error });
      throw error;
    }
    try {
      if (fs.fstatSync(fd).size <= SYNC_IO_MAX_BYTES) return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Files are only ever replaced by rename, so reopening still reads one complete version.
    return await fsp.readFile(file);
  }

  async exists(uri: string): Promise<boolean> {
    const file = this.resolveInside(uri);
    return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
  }

  async remove(uri: string): Promise<void> {
    await fsp.rm(this.resolveInside(uri), { force: true });
  }

  /** Absolute path of `uri`, which must lie strictly below the root. */
  private resolveInside(uri: string): string {
    const file = path.resolve(uri);
    if (file.length <= this.rootPrefix.length || !file.startsWith(this.rootPrefix)) {
      throw new Error(`artifact uri ${uri} is outside the root ${this.root} of artifact store "${this.name}"`);
    }
    return file;
  }

  private ensureDir(dir: string): void {
    if (this.knownDirs.has(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    if (this.knownDirs.size >= DIR_CACHE_MAX) this.knownDirs.clear();
    this.knownDirs.add(dir);
  }
}

/**
 * One path segment per id part. encodeURIComponent removes `/`, `\`, `[`, `]` and every other
 * special character; `.` and `..` survive it and would walk the tree, so they are escaped too.
 * An empty part would vanish from the path and make two different URIs equal.
 */
function encodeSegment(part: string): string {
  if (part === "") throw new Error("artifact uri parts (runId, invocationId, outputName, mappingKey) must not be empty");
  const encoded = encodeURIComponent(part);
  return encoded === "." ? "%2E" : encoded === ".." ? "%2E%2E" : encoded;
}

async function writeFile(file: string, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength <= SYNC_IO_MAX_BYTES) fs.writeFileSync(file, bytes);
  else await fsp.writeFile(file, bytes);
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === "ENOENT";
}
