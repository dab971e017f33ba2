import fs from "node:fs";
import fsp from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";

import { coversPack, encodeSegment, groupForDelete, keySegments, packedUri, parseUri } from "../keys.js";
import type { ArtifactKey, ArtifactStore } from "../types.js";

/**
 * Values up to this size are appended to a pack file of their run; larger ones get a file
 * of their own. Creating a file costs 25–800 µs on the file systems we measured (one
 * `open(O_CREAT)` + rename), appending to an open pack ~2 µs: most step outputs are small,
 * and a file per output would dominate the cost of a small step (bench/README.md).
 */
const PACK_MAX_BYTES = 64 * 1024;

/** Files up to this size are read and written with the sync API; larger ones don't block the loop. */
const SYNC_IO_MAX_BYTES = 1024 * 1024;

/** Open pack files kept per process (one per run being written); the oldest is closed beyond it. */
const OPEN_PACKS_MAX = 16;

interface Pack {
  file: string;
  fd: number;
  size: number;
}

/**
 * Artifacts as files under a root directory, one directory per run:
 * - small values are appended to `<run>/pack-<pid>-<random>.bin` (one pack per process and
 *   run, so concurrent step processes never interleave) and addressed as `<pack>#offset+length`;
 * - large values are written to `<run>/<invocation>+<output>[+<key>]` through a temp file and
 *   a rename, so a reader never sees a torn file.
 * Nothing is fsynced: the metadata row that makes an artifact visible is written after the
 * bytes, and after a crash the step runs again; unreferenced bytes are harmless.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly flavor = "local";
  readonly name: string;
  readonly root: string;

  private readonly rootPrefix: string;
  private readonly packs = new Map<string, Pack>();
  private tempCounter = 0;

  constructor(options: { path: string; name?: string }) {
    this.name = options.name ?? "default";
    this.root = path.resolve(options.path);
    // path.resolve keeps a trailing separator only for a file system root such as "/".
    this.rootPrefix = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
  }

  config(): Record<string, unknown> {
    return { path: this.root };
  }

  /**
   * Small values are appended to the run's pack at once; larger ones need `save`. A subclass
   * that changes `save` gets every value through its own `save`.
   */
  saveSync(key: ArtifactKey, bytes: Uint8Array): string | undefined {
    if (this.save !== LocalArtifactStore.prototype.save || bytes.byteLength > PACK_MAX_BYTES) return undefined;
    return this.append(key.runId, bytes);
  }

  async save(key: ArtifactKey, bytes: Uint8Array): Promise<string> {
    if (bytes.byteLength <= PACK_MAX_BYTES) return this.append(key.runId, bytes);
    const file = this.fileFor(key);
    // The temp file sits next to the target so the rename stays on one file system (atomic).
    const temp = `${file}@tmp-${process.pid}-${this.tempCounter++}`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      if (bytes.byteLength <= SYNC_IO_MAX_BYTES) fs.writeFileSync(temp, bytes);
      else await fsp.writeFile(temp, bytes);
      fs.renameSync(temp, file);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
    return file;
  }

  async read(uri: string): Promise<Uint8Array> {
    const { file, offset, length } = this.locate(uri);
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (error) {
      if (isNotFound(error)) throw new Error(`artifact not found: ${uri}`, { cause: error });
      throw error;
    }
    try {
      if (length !== undefined) {
        const bytes = Buffer.allocUnsafe(length);
        const read = length === 0 ? 0 : fs.readSync(fd, bytes, 0, length, offset);
        if (read !== length) throw new Error(`artifact ${uri} is truncated: ${read} of ${length} bytes`);
        return bytes;
      }
      if (fs.fstatSync(fd).size <= SYNC_IO_MAX_BYTES) return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Whole files are only ever replaced by rename, so reopening still reads one complete version.
    return await fsp.readFile(file);
  }

  async exists(uri: string): Promise<boolean> {
    const { file, offset, length } = this.locate(uri);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) return false;
    return length === undefined || stat.size >= offset + length;
  }

  async delete(uris: string[]): Promise<void> {
    // Every uri must lie below the root before anything is touched.
    for (const uri of uris) this.locate(uri);
    const { whole, packs } = groupForDelete(uris);
    const removed = [...whole];
    for (const [pack, ranges] of packs) {
      const stat = fs.statSync(pack, { throwIfNoEntry: false });
      if (stat && coversPack(ranges, stat.size)) removed.push(pack);
    }
    const dirs = new Set<string>();
    for (const file of removed) {
      const inside = path.resolve(file);
      // A pack this process still appends to is closed first, so the next value starts a new one.
      for (const [runId, open] of this.packs) if (open.file === inside) this.closePack(runId);
      fs.rmSync(inside, { force: true });
      dirs.add(path.dirname(inside));
    }
    // Run folders left empty go too; a folder that still holds something stays.
    for (const dir of dirs) {
      for (let d = dir; d.length > this.rootPrefix.length && d.startsWith(this.rootPrefix); d = path.dirname(d)) {
        try {
          fs.rmdirSync(d);
        } catch {
          break;
        }
      }
    }
  }

  /** Appends to this process's pack of the run; the URI is returned only once every byte is written. */
  private append(runId: string, bytes: Uint8Array): string {
    const pack = this.packFor(runId);
    const offset = pack.size;
    try {
      let written = 0;
      while (written < bytes.byteLength) written += fs.writeSync(pack.fd, bytes, written, bytes.byteLength - written, offset + written);
    } catch (error) {
      // A failed append may have left part of the bytes: start a fresh pack next time.
      this.closePack(runId);
      throw error;
    }
    pack.size += bytes.byteLength;
    return packedUri(pack.file, offset, bytes.byteLength);
  }

  private packFor(runId: string): Pack {
    const open = this.packs.get(runId);
    if (open) return open;
    if (this.packs.size >= OPEN_PACKS_MAX) this.closePack(this.packs.keys().next().value!);
    const dir = path.join(this.root, encodeSegment(runId));
    fs.mkdirSync(dir, { recursive: true });
    // One pack per process and run: concurrent writers never share a file.
    const file = path.join(dir, `pack-${process.pid}-${randomBytes(4).toString("hex")}.bin`);
    const pack = { file, fd: fs.openSync(file, "wx"), size: 0 };
    this.packs.set(runId, pack);
    return pack;
  }

  private closePack(runId: string): void {
    const pack = this.packs.get(runId);
    if (!pack) return;
    this.packs.delete(runId);
    fs.closeSync(pack.fd);
  }

  /** `<root>/<runId>/<invocationId>+<outputName>[+<mappingKey>]`, each part URI-encoded. */
  private fileFor(key: ArtifactKey): string {
    return path.join(this.root, ...keySegments(key));
  }

  /** The file (strictly below the root) and, for packed artifacts, the byte range of a URI. */
  private locate(uri: string): { file: string; offset: number; length: number | undefined } {
    const { object, offset, length } = parseUri(uri);
    const file = path.resolve(object);
    if (file.length <= this.rootPrefix.length || !file.startsWith(this.rootPrefix)) {
      throw new Error(`artifact uri ${uri} is outside the root ${this.root} of artifact store "${this.name}"`);
    }
    return { file, offset, length };
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === "ENOENT";
}
