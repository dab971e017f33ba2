import type { ArtifactKey } from "./types.js";

/**
 * Naming rules every artifact store shares, so a value has the same relative name in a
 * folder and in a bucket.
 */

/** A packed artifact's URI is its pack's URI with `#<offset>+<length>` appended. */
const PACKED_URI = /^(.*)#(\d+)\+(\d+)$/;

/** An artifact's location: the file or object, and for packed artifacts the byte range in it. */
export interface Location {
  /** The URI without its byte range. */
  object: string;
  offset: number;
  /** Absent for a whole file or object. */
  length: number | undefined;
}

export function parseUri(uri: string): Location {
  const packed = PACKED_URI.exec(uri);
  if (!packed) return { object: uri, offset: 0, length: undefined };
  return { object: packed[1], offset: Number(packed[2]), length: Number(packed[3]) };
}

export function packedUri(object: string, offset: number, length: number): string {
  return `${object}#${offset}+${length}`;
}

/**
 * The path segments of a value stored on its own: `<runId>/<invocationId>+<outputName>[+<mappingKey>]`,
 * each part encoded. A name longer than file systems allow falls back to a segment per part.
 */
export function keySegments(key: ArtifactKey): string[] {
  const names = [key.invocationId, key.outputName];
  if (key.mappingKey != null) names.push(key.mappingKey);
  // encodeURIComponent always escapes "+", so the name splits back into its parts unambiguously.
  const flat = names.map(encodeSegment).join("+");
  const run = encodeSegment(key.runId);
  // File systems allow 255-byte names; deeply nested keys fall back to a directory per part.
  if (Buffer.byteLength(flat) <= 240) return [run, flat];
  return [run, ...names.map(encodeSegment)];
}

/**
 * One path segment per id part. encodeURIComponent removes `/`, `\`, `[`, `]` and every other
 * special character; `.` and `..` survive it and would walk the tree, so they are escaped too.
 * An empty part would vanish from the path and make two different keys equal.
 */
export function encodeSegment(part: string): string {
  if (part === "") throw new Error("artifact key parts (runId, invocationId, outputName, mappingKey) must not be empty");
  const encoded = encodeURIComponent(part);
  return encoded === "." ? "%2E" : encoded === ".." ? "%2E%2E" : encoded;
}

/**
 * Groups URIs to delete by file or object. `whole` objects can go at once; a pack can go
 * only when the ranges deleted cover every byte of it (`coversPack`), since other artifacts
 * in it may still be referenced (e.g. by a cached step run of another run).
 */
export function groupForDelete(uris: string[]): { whole: string[]; packs: Map<string, [offset: number, length: number][]> } {
  const whole = new Set<string>();
  const packs = new Map<string, [number, number][]>();
  for (const uri of uris) {
    const { object, offset, length } = parseUri(uri);
    if (length === undefined) whole.add(object);
    else {
      const ranges = packs.get(object) ?? [];
      ranges.push([offset, length]);
      packs.set(object, ranges);
    }
  }
  return { whole: [...whole], packs };
}

/** Whether the ranges leave no byte of `[0, size)` uncovered. */
export function coversPack(ranges: [offset: number, length: number][], size: number): boolean {
  let covered = 0;
  for (const [offset, length] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (offset > covered) return false;
    covered = Math.max(covered, offset + length);
  }
  return covered >= size;
}
