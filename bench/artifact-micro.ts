/**
 * Micro-benchmark of the local artifact store for tiny values (the size a step output
 * usually has in the orchestration benchmarks): one artifact per step run, keyed the way
 * the engine keys them.
 *
 *   node --import tsx bench/artifact-micro.ts [--n 10000] [--bytes 64]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalArtifactStore } from "../src/stores/artifacts/local/local-artifact-store.js";

interface Key {
  runId: string;
  invocationId: string;
  outputName: string;
  mappingKey?: string | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: "string", default: "10000" }, bytes: { type: "string", default: "64" } } });
  const n = Number(values.n);
  const size = Number(values.bytes);
  const bytes = Buffer.alloc(size, 120);

  const root = mkdtempSync(join(tmpdir(), "weir-artifact-micro-"));
  try {
    const store = new LocalArtifactStore({ path: root });
    const save = (key: Key, bytes: Uint8Array) => store.save(key, bytes);
    const keys = (runId: string, mapped: boolean): Key[] =>
      Array.from({ length: n }, (_, i) =>
        mapped
          ? { runId, invocationId: "emit_items", outputName: "output", mappingKey: `k${i}` }
          : { runId, invocationId: `process_partition_${i + 1}`, outputName: "output" },
      );
    // Warm-up.
    for (const key of keys("warm", false).slice(0, 500)) await save(key, bytes);

    const report = (label: string, ms: number) =>
      console.log(`  ${label.padEnd(46)} ${(ms / 1000).toFixed(2)} s, ${((ms * 1000) / n).toFixed(1)} µs/artifact`);
    console.log(`LocalArtifactStore, ${n.toLocaleString("en-US")} × ${size} bytes, in ${tmpdir()}`);

    let start = performance.now();
    const uris: string[] = [];
    for (const key of keys("seq", false)) uris.push(await save(key, bytes));
    report("save: one per step run, sequential", performance.now() - start);

    const parallel = keys("par", false);
    start = performance.now();
    await Promise.all(parallel.map((key) => save(key, bytes)));
    report("save: one per step run, all in flight", performance.now() - start);

    const items = keys("items", true);
    start = performance.now();
    for (const key of items) await save(key, bytes);
    report("save: dynamic output items of one step", performance.now() - start);

    start = performance.now();
    for (const uri of uris) await store.read(uri);
    report("read back, sequential", performance.now() - start);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
