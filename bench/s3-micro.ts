/**
 * Micro-benchmark of small-value saves: the local store, the S3 store (packed), and one
 * PUT per value (what the S3 store would cost without packing), against a real s3rver on
 * loopback started here. "workers" saves mimic steps running in parallel: each worker saves
 * one value, waits for its URI, then saves the next.
 *
 *   node --import tsx bench/s3-micro.ts [--n 2000] [--bytes 64] [--workers 32]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

import { LocalArtifactStore } from "../src/stores/artifacts/local/local-artifact-store.js";
import { S3ArtifactStore } from "../src/stores/artifacts/s3/s3-artifact-store.js";
import type { ArtifactKey } from "../src/stores/artifacts/types.js";
import { startS3rver } from "../test/stores/s3rver.js";

type Save = (key: ArtifactKey, bytes: Uint8Array) => Promise<unknown>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { n: { type: "string", default: "2000" }, bytes: { type: "string", default: "64" }, workers: { type: "string", default: "32" } },
  });
  const n = Number(values.n);
  const size = Number(values.bytes);
  const workers = Number(values.workers);
  const bytes = Buffer.alloc(size, 120);
  const key = (runId: string, i: number): ArtifactKey => ({ runId, invocationId: `process_partition_${i + 1}`, outputName: "output" });

  const report = (label: string, ms: number, count = n) =>
    console.log(`  ${label.padEnd(52)} ${(ms / 1000).toFixed(2)} s, ${((ms * 1000) / count).toFixed(1)} µs/artifact`);

  /** Times n saves: sequential, `workers` at a time, and all in flight. */
  async function measure(label: string, save: Save, count = n): Promise<void> {
    let start = performance.now();
    for (let i = 0; i < count; i++) await save(key(`${label}-seq`, i), bytes);
    report(`${label}: sequential`, performance.now() - start, count);
    start = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < count) await save(key(`${label}-workers`, next++), bytes);
      }),
    );
    report(`${label}: ${workers} workers`, performance.now() - start, count);
    start = performance.now();
    await Promise.all(Array.from({ length: count }, (_, i) => save(key(`${label}-all`, i), bytes)));
    report(`${label}: all in flight`, performance.now() - start, count);
  }

  const root = mkdtempSync(join(tmpdir(), "weir-s3-micro-"));
  const server = await startS3rver(["bench"]);
  const s3 = new S3ArtifactStore({ bucket: "bench", endpoint: server.endpoint, forcePathStyle: true });
  const client = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1" });
  try {
    console.log(`small-value saves, ${n.toLocaleString("en-US")} × ${size} bytes; s3rver on ${server.endpoint}`);
    const local = new LocalArtifactStore({ path: root });
    await measure("local", (k, b) => local.save(k, b));

    // Warm-up: SDK loaded, connections open.
    for (let i = 0; i < 50; i++) await s3.save(key("warm", i), bytes);
    await measure("s3 packed", (k, b) => s3.save(k, b));

    let object = 0;
    const onePut: Save = (k, b) => client.send(new PutObjectCommand({ Bucket: "bench", Key: `one-put/${k.runId}/${object++}`, Body: b }));
    // One PUT each is slow: a quarter of the values keeps the run short; the rate is per artifact.
    await measure("s3 one PUT each", onePut, Math.max(100, Math.floor(n / 4)));

    // Saved together, so they share packs, as the outputs of parallel steps do.
    const uris = await Promise.all(Array.from({ length: 500 }, (_, i) => s3.save(key("read", i), bytes)));
    let start = performance.now();
    for (const uri of uris) await s3.read(uri);
    report("s3 read back (ranged GET), sequential", performance.now() - start, uris.length);
    start = performance.now();
    await Promise.all(uris.map((uri) => s3.read(uri)));
    report("s3 read back, all at once (merged GETs)", performance.now() - start, uris.length);
  } finally {
    client.destroy();
    await s3.close();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
