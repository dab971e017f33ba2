/**
 * The fan-out workload of the queue benchmark (bench/queue-bench.ts), in a module of its
 * own so that workers can import its steps by path.
 */
import { pipeline, step } from "weir";

export const countShards = step(function queue_bench_count(n: number) {
  return n;
});
export const processShard = step(function queue_bench_process(i: number, total: number) {
  return { shard: i, rows: (i * 7919) % 1000, share: i / total };
});
export const mergeShards = step(function queue_bench_merge(results: { rows: number }[]) {
  let rows = 0;
  for (const r of results) rows += r.rows;
  return { shards: results.length, rows };
});

/** count → n independent steps → merge: n + 2 step runs. */
export const queueFanOut = pipeline({ name: "queue_bench_fan_out", dynamic: true }, async (p: { n: number }) => {
  const n = await countShards(p.n);
  const results = [];
  for (let i = 0; i < n; i++) results.push(processShard(i, n));
  return mergeShards(results);
});
