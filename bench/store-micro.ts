/**
 * Micro-benchmark of the SQLite metadata store's per-step writes: for each of N steps,
 * createStepRun → updateStepRun(running) → completeStepRun with one new artifact version
 * and its output link (what the engine writes for one ordinary step run).
 *
 *   node --import tsx bench/store-micro.ts [--n 10000] [--repeat 3] [--random-ids]
 *
 * The step-run and artifact-version ids (which the engine makes) are time-ordered UUIDs, as
 * the engine makes them; --random-ids uses crypto.randomUUID instead, to show what that costs.
 *
 * Each pattern runs `repeat` times on a fresh database; the best time is reported (other
 * processes on the machine only ever make a run slower).
 * Three patterns:
 * - sequential: one step at a time, each write awaited (a chain of steps);
 * - concurrent: every step in flight at once, each step's writes in order (a wide graph);
 * - per-op: the mean latency of each method alone in the sequential pattern.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { timeOrderedId } from "../src/ids.js";
import * as sqlite from "../src/stores/metadata/sqlite/sqlite-store.js";

const { SqliteMetadataStore } = sqlite;
type SqliteMetadataStore = InstanceType<typeof SqliteMetadataStore>;
let newId: () => string = timeOrderedId;

type Store = SqliteMetadataStore;

async function openStore(): Promise<{ store: Store; runId: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "weir-store-micro-"));
  const store = new SqliteMetadataStore({ path: join(dir, "weir.db") });
  await store.migrate();
  const snapshot = await store.createSnapshot({
    pipelineName: "micro",
    isDynamic: true,
    parameters: {},
    source: { module: "micro.ts" },
    spec: null,
  });
  const run = await store.createRun({
    name: "micro-1",
    pipelineName: "micro",
    snapshotId: snapshot.id,
    stackName: "default",
    isDynamic: true,
    enableCache: false,
    status: "running",
  });
  return { store, runId: run.id, dir };
}

interface Timings {
  create: number;
  update: number;
  complete: number;
}

async function oneStep(store: Store, runId: string, i: number, timings?: Timings): Promise<void> {
  const id = newId();
  const artifactId = newId();
  let t = performance.now();
  await store.createStepRun({
    id,
    runId,
    invocationId: `process_partition_${i + 1}`,
    stepName: "process_partition",
    position: i,
    upstream: [],
    parameters: { i, total: 10_000 },
    configuration: { stepName: "process_partition", module: "/work/bench/workloads.ts", settings: {}, retry: null },
  });
  if (timings) timings.create += performance.now() - t;
  t = performance.now();
  await store.updateStepRun(id, { status: "running", attempt: 1, startedAt: Date.now(), error: null });
  if (timings) timings.update += performance.now() - t;
  t = performance.now();
  await store.completeStepRun({
    stepRunId: id,
    status: "completed",
    endedAt: Date.now(),
    cacheKey: null,
    metadata: {},
    newArtifacts: [
      {
        id: artifactId,
        artifactName: `micro::process_partition_${i + 1}::output`,
        uri: `/tmp/weir/artifacts/run/process_partition_${i + 1}/output`,
        dataType: "object",
        materializer: "weir.json",
        contentHash: "0".repeat(64),
        size: 48,
        metadata: {},
      },
    ],
    outputs: [{ artifactVersionId: artifactId, outputName: "output", mappingKey: null, position: 0 }],
  });
  if (timings) timings.complete += performance.now() - t;
}

async function measure(label: string, n: number, body: (store: Store, runId: string) => Promise<void>) {
  const { store, runId, dir } = await openStore();
  // Warm the statements and the JIT on a few steps of a separate run of the same file.
  for (let i = 0; i < 50; i++) await oneStep(store, runId, n + i);
  const start = performance.now();
  await body(store, runId);
  const ms = performance.now() - start;
  const rows = (await store.listStepRuns(runId)).length;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  if (rows !== n + 50) throw new Error(`${label}: expected ${n + 50} step runs, found ${rows}`);
  return ms;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: "string", default: "10000" },
      repeat: { type: "string", default: "3" },
      "random-ids": { type: "boolean", default: false },
    },
  });
  const n = Number(values.n);
  if (values["random-ids"]) newId = randomUUID;
  const repeat = Number(values.repeat);

  let sequential = Infinity;
  let concurrent = Infinity;
  let timings: Timings = { create: 0, update: 0, complete: 0 };
  for (let r = 0; r < repeat; r++) {
    const these: Timings = { create: 0, update: 0, complete: 0 };
    const ms = await measure("sequential", n, async (store, runId) => {
      for (let i = 0; i < n; i++) await oneStep(store, runId, i, these);
    });
    if (ms < sequential) [sequential, timings] = [ms, these];
    const concurrentMs = await measure("concurrent", n, async (store, runId) => {
      await Promise.all(Array.from({ length: n }, (_, i) => oneStep(store, runId, i)));
    });
    concurrent = Math.min(concurrent, concurrentMs);
  }

  const us = (ms: number) => `${((ms * 1000) / n).toFixed(1)} µs`;
  console.log(
    `SQLite store, ${n.toLocaleString("en-US")} steps (createStepRun + updateStepRun + completeStepRun with 1 artifact), ${newId === randomUUID ? "random" : "time-ordered"} step-run ids, best of ${repeat}`,
  );
  console.log(`  sequential: ${(sequential / 1000).toFixed(2)} s, ${us(sequential)}/step`);
  console.log(`    createStepRun ${us(timings.create)}, updateStepRun ${us(timings.update)}, completeStepRun ${us(timings.complete)}`);
  console.log(`  concurrent: ${(concurrent / 1000).toFixed(2)} s, ${us(concurrent)}/step`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
