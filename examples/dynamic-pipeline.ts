// Seed: ZenML "Dynamic Pipelines". Which steps run is decided by a step's output at run
// time; each branch's step carries its own resource settings (recorded with every step run).
// Run it: weir run examples/dynamic-pipeline.ts
import { pipeline, step } from "weir";

export const checkDataSize = step(function check_data_size(): number {
  // Could query a database, check a file's size, etc.
  return 1_000_000; // 1M records
});

export const processSmallBatch = step(
  { settings: { resources: { cpuCount: 2, memory: "4GB" } } },
  function process_small_batch(batchId: number) {
    return { batch: batchId, processed: true };
  },
);

export const processLargeBatch = step(
  { settings: { resources: { cpuCount: 8, memory: "16GB" } } },
  function process_large_batch(batchId: number) {
    return { batch: batchId, processed: true };
  },
);

/** Steps are determined during execution. */
export const dynamicPipeline = pipeline({ name: "dynamic_pipeline", dynamic: true }, async () => {
  const size = await checkDataSize();
  // Branch on the runtime value.
  if (size < 10_000) {
    // Small dataset: a few batches.
    return [0, 1, 2].map((i) => processSmallBatch(i));
  }
  // Large dataset: ten batches, which run in parallel.
  return Array.from({ length: 10 }, (_, i) => processLargeBatch(i));
});
