import { randomBytes } from "node:crypto";

import type { S3Client } from "@aws-sdk/client-s3";

import { ArtifactStoreError, StackError } from "../../../authoring/errors.js";
import { coversPack, encodeSegment, groupForDelete, keySegments, packedUri, parseUri } from "../keys.js";
import type { ArtifactKey, ArtifactStore } from "../types.js";
import { PackBatcher } from "./pack-batcher.js";
import { ReadCoalescer } from "./read-coalescer.js";

/** The recorded config of an S3 artifact store (`weir stack register … --artifact-store-config`). No credentials. */
export interface S3ArtifactStoreConfig {
  bucket: string;
  /** Key prefix every artifact lives under (no leading or trailing `/`). */
  prefix?: string;
  /** For S3-compatible servers (MinIO, s3rver): `http://127.0.0.1:9000`. Default: AWS S3 of the region. */
  endpoint?: string;
  /** Default: `AWS_REGION`, else `us-east-1`. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
}

/**
 * Values up to this size are packed: a PUT costs ~6 ms on loopback (more on a network) whatever
 * its size up to a few MB, so small values share one object (bench/s3-micro.ts).
 */
const PACK_MAX_BYTES = 1024 * 1024;

const CONFIG_FIELDS = new Set(["bucket", "prefix", "endpoint", "region", "forcePathStyle"]);

/**
 * Artifacts as objects in an S3 bucket (AWS S3, MinIO, any S3-compatible server):
 * - small values are packed per run and process into `<prefix>/<run>/pack-<random>.bin`
 *   objects (`PackBatcher`), each artifact addressed as `s3://bucket/key#offset+length` and read
 *   back by a ranged GET (reads of one pack in the same turn share one: `ReadCoalescer`);
 * - larger values get an object of their own, `<prefix>/<run>/<invocation>+<output>[+<key>]@<random>`:
 *   the random suffix keeps a URI's bytes fixed, even when a retry saves the same key again.
 * A PUT is atomic, and a URI is returned only after its PUT succeeded.
 * Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, profiles, instance roles); the SDK is loaded on first use only.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly flavor = "s3";
  readonly name: string;
  readonly root: string;

  private readonly settings: S3ArtifactStoreConfig;
  private readonly keyPrefix: string;
  private readonly batchers = new Map<string, PackBatcher>();
  private readonly reads = new ReadCoalescer(
    (object, start, end) => this.get(object, { start, end }),
    (error, uri) => this.readFailure(error, uri),
  );
  private client: Promise<{ client: S3Client; sdk: typeof import("@aws-sdk/client-s3") }> | undefined;

  constructor(options: S3ArtifactStoreConfig & { name?: string }) {
    this.name = options.name ?? "default";
    const { name: _name, ...config } = options;
    this.settings = validate(config, this.name);
    const prefix = this.settings.prefix;
    this.keyPrefix = prefix ? `${prefix}/` : "";
    this.root = `s3://${this.settings.bucket}${prefix ? `/${prefix}` : ""}`;
  }

  config(): Record<string, unknown> {
    return { ...this.settings };
  }

  async save(key: ArtifactKey, bytes: Uint8Array): Promise<string> {
    const run = encodeSegment(key.runId);
    if (bytes.byteLength <= PACK_MAX_BYTES) {
      const { key: object, offset } = await this.batcherFor(run).add(bytes);
      return packedUri(this.uriOf(object), offset, bytes.byteLength);
    }
    const segments = keySegments(key);
    segments[segments.length - 1] += `@${randomBytes(6).toString("hex")}`;
    const object = this.keyPrefix + segments.join("/");
    await this.put(object, [bytes]);
    return this.uriOf(object);
  }

  async read(uri: string): Promise<Uint8Array> {
    const { object, offset, length } = this.locate(uri);
    // An empty packed value has no bytes to fetch; its pack must still be there.
    if (length === 0) {
      if (!(await this.exists(uri))) throw new Error(`artifact not found: ${uri}`);
      return new Uint8Array(0);
    }
    if (length !== undefined) return this.reads.read(uri, object, offset, length);
    try {
      return (await this.get(object)).bytes;
    } catch (error) {
      throw this.readFailure(error, uri);
    }
  }

  async exists(uri: string): Promise<boolean> {
    const { object, offset, length } = this.locate(uri);
    const size = await this.sizeOf(object);
    return size !== undefined && (length === undefined || size >= offset + length);
  }

  async delete(uris: string[]): Promise<void> {
    for (const uri of uris) this.locate(uri);
    const { whole, packs } = groupForDelete(uris);
    const objects = whole.map((uri) => this.locate(uri).object);
    for (const [pack, ranges] of packs) {
      const key = this.locate(pack).object;
      const size = await this.sizeOf(key);
      if (size !== undefined && coversPack(ranges, size)) objects.push(key);
    }
    const { client, sdk } = await this.connect();
    // DeleteObjects takes at most 1,000 keys per request.
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000).map((Key) => ({ Key }));
      try {
        const result = await client.send(new sdk.DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: batch, Quiet: true } }));
        const failed = result.Errors ?? [];
        if (failed.length > 0) throw new Error(failed.map((e) => `${e.Key}: ${e.Message ?? e.Code}`).join("; "));
      } catch (error) {
        throw this.failure(`deleting ${batch.length} objects`, error);
      }
    }
  }

  /** Closes the connections (tests, benchmarks, short-lived tools); a later call opens new ones. */
  async close(): Promise<void> {
    const connected = this.client;
    this.client = undefined;
    if (connected) (await connected).client.destroy();
  }

  private batcherFor(run: string): PackBatcher {
    let batcher = this.batchers.get(run);
    if (!batcher) {
      const created = new PackBatcher(
        () => `${this.keyPrefix}${run}/pack-${randomBytes(8).toString("hex")}.bin`,
        (key, body) => this.put(key, body),
        () => {
          if (this.batchers.get(run) === created) this.batchers.delete(run);
        },
      );
      batcher = created;
      this.batchers.set(run, batcher);
    }
    return batcher;
  }

  private async put(key: string, chunks: Uint8Array[]): Promise<void> {
    const { client, sdk } = await this.connect();
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.settings.bucket, Key: key, Body: body }));
    } catch (error) {
      throw this.failure(`saving ${this.uriOf(key)}`, error);
    }
  }

  /** GETs an object, or the bytes `[start, end)` of it; `start` is where the returned bytes begin. */
  private async get(object: string, range?: { start: number; end: number }): Promise<{ bytes: Uint8Array; start: number }> {
    const { client, sdk } = await this.connect();
    const Range = range && `bytes=${range.start}-${range.end - 1}`;
    const response = await client.send(new sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: object, Range }));
    const bytes = await response.Body!.transformToByteArray();
    // A server may answer with more than the range: the whole object (200, which HTTP allows)
    // or a wider range (s3rver reads `bytes=0-0` as `bytes=0-`); the caller takes its range out.
    const start = response.ContentRange ? Number(/^bytes (\d+)-/.exec(response.ContentRange)?.[1] ?? 0) : 0;
    return { bytes, start };
  }

  private readFailure(error: unknown, uri: string): Error {
    if (isNotFound(error)) return new Error(`artifact not found: ${uri}`, { cause: error });
    if (statusOf(error) === 416) return new Error(`artifact ${uri} is truncated: its object is shorter than its byte range`, { cause: error });
    return this.failure(`reading ${uri}`, error);
  }

  /** The object's size, or undefined when it does not exist. */
  private async sizeOf(key: string): Promise<number | undefined> {
    const { client, sdk } = await this.connect();
    try {
      const head = await client.send(new sdk.HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.failure(`checking ${this.uriOf(key)}`, error);
    }
  }

  private connect() {
    this.client ??= import("@aws-sdk/client-s3").then((sdk) => {
      const { endpoint, region, forcePathStyle } = this.settings;
      const client = new sdk.S3Client({
        endpoint,
        region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
        forcePathStyle,
      });
      return { client, sdk };
    });
    return this.client;
  }

  /** An error that names this store (bucket, prefix and endpoint) and what it was doing. */
  private failure(action: string, error: unknown): ArtifactStoreError {
    const where = `${this.root} at ${this.settings.endpoint ?? "AWS S3"}`;
    const reason = error instanceof Error ? error.message || error.name : String(error);
    return new ArtifactStoreError(`S3 artifact store "${this.name}" (${where}): ${action} failed: ${reason}`, { cause: error });
  }

  private uriOf(key: string): string {
    return `s3://${this.settings.bucket}/${key}`;
  }

  /** The object key (strictly below the root) and byte range of a URI. */
  private locate(uri: string): { object: string; offset: number; length: number | undefined } {
    const { object, offset, length } = parseUri(uri);
    const base = `${this.root}/`;
    const key = object.startsWith(base) ? object.slice(`s3://${this.settings.bucket}/`.length) : undefined;
    if (key === undefined || object.length === base.length || key.split("/").some((part) => part === "" || part === "." || part === "..")) {
      throw new Error(`artifact uri ${uri} is outside the root ${this.root} of artifact store "${this.name}"`);
    }
    return { object: key, offset, length };
  }
}

/** The flavor factory: `registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor)`. */
export function s3ArtifactStoreFlavor(config: Record<string, unknown>, name: string): S3ArtifactStore {
  return new S3ArtifactStore({ ...(config as unknown as S3ArtifactStoreConfig), name });
}

function validate(config: Record<string, unknown>, name: string): S3ArtifactStoreConfig {
  const bad = (what: string) => new StackError(`S3 artifact store "${name}": ${what}`);
  for (const field of Object.keys(config)) {
    if (!CONFIG_FIELDS.has(field)) throw bad(`unknown config field "${field}" (known: ${[...CONFIG_FIELDS].join(", ")})`);
  }
  const { bucket, prefix, endpoint, region, forcePathStyle } = config;
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw bad(`"bucket" must be a bucket name (3-63 lower-case letters, digits, "." or "-"), got ${JSON.stringify(bucket)}`);
  }
  const settings: S3ArtifactStoreConfig = { bucket };
  if (prefix !== undefined) {
    if (typeof prefix !== "string") throw bad(`"prefix" must be a string, got ${JSON.stringify(prefix)}`);
    const trimmed = prefix.replace(/^\/+|\/+$/g, "");
    if (trimmed !== "" && trimmed.split("/").some((part) => part === "" || part === "." || part === "..")) {
      throw bad(`"prefix" must be key segments separated by single "/" with no "." or ".." segment, got ${JSON.stringify(prefix)}`);
    }
    if (trimmed !== "") settings.prefix = trimmed;
  }
  if (endpoint !== undefined) {
    if (typeof endpoint !== "string" || !URL.canParse(endpoint)) throw bad(`"endpoint" must be a URL, got ${JSON.stringify(endpoint)}`);
    settings.endpoint = endpoint;
  }
  if (region !== undefined) {
    if (typeof region !== "string" || region === "") throw bad(`"region" must be a region name, got ${JSON.stringify(region)}`);
    settings.region = region;
  }
  if (forcePathStyle !== undefined) {
    if (typeof forcePathStyle !== "boolean") throw bad(`"forcePathStyle" must be true or false, got ${JSON.stringify(forcePathStyle)}`);
    settings.forcePathStyle = forcePathStyle;
  }
  return settings;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(error) === 404;
}
