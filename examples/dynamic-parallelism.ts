// Seed: ZenML "Dynamic Parallelism". The number of partition steps is computed by a step
// at run time: 35,000 records in batches of 10,000 → 4 process_partition runs, merged.
// Run it: weir run examples/dynamic-parallelism.ts --param totalRecords=100000
import { pipeline, step } from "weir";

const OPTIMAL_BATCH_SIZE = 10_000;

interface PartitionResult {
  partition: number;
  total_partitions: number;
  records_processed: number;
}

/** Determine the optimal partition count (the seed's get_record_count() is the parameter). */
export const countPartitions = step(function count_partitions(totalRecords: number): number {
  return Math.ceil(totalRecords / OPTIMAL_BATCH_SIZE);
});

/** Process a single partition. */
export const processPartition = step(function process_partition(partitionId: number, total: number): PartitionResult {
  return { partition: partitionId, total_partitions: total, records_processed: OPTIMAL_BATCH_SIZE };
});

/** Merge results from all partitions. */
export const mergeResults = step(function merge_results(results: PartitionResult[]): { total_processed: number } {
  return { total_processed: results.reduce((sum, r) => sum + r.records_processed, 0) };
});

/** Process data with dynamic parallelism. */
export const dynamicParallelPipeline = pipeline(
  { name: "dynamic_parallel_pipeline", dynamic: true },
  async ({ totalRecords = 35_000 }: { totalRecords?: number }) => {
    const numPartitions = countPartitions(totalRecords);
    // The handle is awaited for the count, and passed on as a data edge to every partition.
    const count = await numPartitions;
    const results = Array.from({ length: count }, (_, i) => processPartition(i, numPartitions));
    return mergeResults(results);
  },
);
