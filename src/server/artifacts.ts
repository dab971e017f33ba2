import { resolve, sep } from "node:path";
import { inspect } from "node:util";
import { defaultMaterializers } from "../materializers/registry.js";
import { artifactStoreFromComponent } from "../stores/artifacts/resolve.js";
import { LocalArtifactStore } from "../stores/artifacts/local/local-artifact-store.js";
import type { ArtifactVersionRecord, MetadataStore } from "../stores/metadata/types.js";
import type { ApiArtifact, ApiPreview } from "./types.js";

/** Larger artifacts are not loaded for a preview (their size is still shown). */
export const PREVIEW_MAX_BYTES = 4 * 1024 * 1024;
const TEXT_PREVIEW_CHARS = 64 * 1024;
const TABLE_PREVIEW_ROWS = 500;

export class ArtifactAccessError extends Error {}

/**
 * The artifact stores the server may read: the local ones registered in stacks and the
 * home's default one. A URI outside all of them (a tampered row, `../`) is never opened.
 */
export async function artifactStores(store: MetadataStore, home: string): Promise<LocalArtifactStore[]> {
  const roots = new Set([resolve(home, "artifacts")]);
  for (const stack of await store.listStacks()) {
    for (const c of stack.components) {
      if (c.type === "artifact_store" && c.flavor === "local" && typeof c.config.path === "string") roots.add(resolve(c.config.path));
    }
  }
  return [...roots].map((path) => new LocalArtifactStore({ path, name: path }));
}

/**
 * The bytes of an artifact version, read only through a store this metadata store knows: the
 * registered component its row names (any flavor, S3 included: the store checks the URI is its
 * own), else, for older rows, a registered local store whose root holds the URI.
 */
export async function readArtifactBytes(version: ArtifactVersionRecord, stores: LocalArtifactStore[], metadata?: MetadataStore): Promise<Uint8Array> {
  if (version.artifactStoreId && metadata) {
    const component = await metadata.getComponent(version.artifactStoreId);
    if (!component || component.type !== "artifact_store") {
      throw new ArtifactAccessError(`artifact version ${version.id} is held by an artifact store this server does not know`);
    }
    return artifactStoreFromComponent(component).read(version.uri);
  }
  const file = resolve(version.uri.replace(/#\d+\+\d+$/, ""));
  const owner = stores.find((s) => file.startsWith(s.root.endsWith(sep) ? s.root : s.root + sep));
  if (!owner) throw new ArtifactAccessError(`artifact version ${version.id} is not in any artifact store this server reads`);
  return owner.read(version.uri);
}

export function toApiArtifact(version: ArtifactVersionRecord): ApiArtifact {
  // The URI stays on the server: clients ask for content by id, never by path.
  const { uri: _uri, ...rest } = version;
  const parts = version.artifactName.split("::");
  const producer = parts.length >= 3 ? { invocationId: parts.slice(1, -1).join("::"), outputName: parts[parts.length - 1] } : null;
  return { ...rest, producer };
}

/** PNG and JPEG by their magic bytes: the only binary content the dashboard renders. */
export function imageMime(bytes: Uint8Array): "image/png" | "image/jpeg" | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "image/png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  return undefined;
}

/** What the dashboard shows for an artifact version: JSON tree, table, text or image. */
export async function previewArtifact(version: ArtifactVersionRecord, stores: LocalArtifactStore[], metadata?: MetadataStore): Promise<ApiPreview> {
  if (version.size > PREVIEW_MAX_BYTES) {
    return { kind: "unavailable", reason: `too large to preview (${version.size} bytes; the limit is ${PREVIEW_MAX_BYTES})` };
  }
  const bytes = await readArtifactBytes(version, stores, metadata);
  if (version.materializer === "weir.bytes") {
    const mime = imageMime(bytes);
    if (mime) return { kind: "image", mime, contentUrl: `/api/artifacts/${encodeURIComponent(version.id)}/content` };
    return text(Buffer.from(bytes.subarray(0, 512)).toString("hex").replace(/(..)/g, "$1 "), bytes.length > 512);
  }
  let value: unknown;
  try {
    value = defaultMaterializers().byName(version.materializer).load(bytes, version.dataType);
  } catch (error) {
    return { kind: "unavailable", reason: `cannot load in the server: ${(error as Error).message}` };
  }
  if (typeof value === "string") return text(value.slice(0, TEXT_PREVIEW_CHARS), value.length > TEXT_PREVIEW_CHARS);
  if (isRecordList(value)) {
    const columns = [...new Set(value.slice(0, TABLE_PREVIEW_ROWS).flatMap((r) => Object.keys(r)))];
    return { kind: "table", columns, rows: value.slice(0, TABLE_PREVIEW_ROWS), total: value.length };
  }
  if (version.materializer === "weir.json" || version.materializer === "weir.none") return { kind: "json", value: value ?? null };
  // Maps, typed arrays, dates, …: a readable rendering rather than lossy JSON.
  return text(inspect(value, { depth: 6, maxArrayLength: 200, breakLength: 100 }), false);
}

function text(body: string, truncated: boolean): ApiPreview {
  return { kind: "text", text: body, truncated };
}

function isRecordList(value: unknown): value is Record<string, unknown>[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((r) => r !== null && typeof r === "object" && !Array.isArray(r) && Object.values(r).every((v) => v === null || typeof v !== "object"))
  );
}
