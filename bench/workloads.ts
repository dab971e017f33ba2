/**
 * The benchmark workloads. Each one is a weir pipeline plus its "floor": the very same
 * step functions called directly (a loop / Promise.all), recording nothing.
 *
 * Every workload has its own step definitions (distinct names), so the step registry and
 * the artifact names of one workload never mix with another's.
 */
import { DynamicOutput, pipeline, step, type Pipeline } from "weir";

export interface Workload {
  name: string;
  description: string;
  /** Step runs one run of size `n` records. */
  stepRuns(n: number): number;
  /** Runs the pipeline through weir (recorded); resolves to its output value. */
  pipeline: Pipeline<{ n: number }, unknown>;
  /** The same step functions, called directly. */
  floor(n: number): Promise<unknown>;
}

// ---- (a) dynamic fan-out / fan-in ---------------------------------------------------------

interface Partition {
  partition: number;
  rows: number;
  share: number;
}

function count_partitions(n: number): number {
  return n;
}
function process_partition(i: number, total: number): Partition {
  return { partition: i, rows: (i * 7919) % 1000, share: i / total };
}
function merge_results(results: Partition[]): { partitions: number; rows: number } {
  let rows = 0;
  for (const r of results) rows += r.rows;
  return { partitions: results.length, rows };
}

const countPartitions = step(count_partitions);
const processPartition = step(process_partition);
const mergeResults = step(merge_results);

const fanOut = pipeline({ name: "bench_fan_out", dynamic: true }, async (p: { n: number }) => {
  const n = await countPartitions(p.n);
  const results = [];
  for (let i = 0; i < n; i++) results.push(processPartition(i, n));
  return mergeResults(results);
});

// ---- (b) static chain ------------------------------------------------------------------------

function chain_start(): number {
  return 0;
}
function chain_link(x: number): number {
  return x + 1;
}
const chainStart = step(chain_start);
const chainLink = step(chain_link);

const chain = pipeline({ name: "bench_chain" }, (p: { n: number }) => {
  let h = chainStart();
  for (let i = 1; i < p.n; i++) h = chainLink(h);
  return h;
});

// ---- (c) static wide graph ---------------------------------------------------------------------

function wide_item(i: number): { i: number; square: number } {
  return { i, square: i * i };
}
const wideItem = step(wide_item);

const wide = pipeline({ name: "bench_wide" }, (p: { n: number }) => {
  for (let i = 0; i < p.n; i++) wideItem(i);
});

// ---- (d) map / collect over dynamic outputs -----------------------------------------------

function* emit_items(n: number): Generator<DynamicOutput<number>> {
  for (let i = 0; i < n; i++) yield new DynamicOutput(i, { mappingKey: "k" + i });
}
function process_item(x: number): number {
  return x * 2 + 1;
}
function merge_items(xs: number[]): { count: number; sum: number } {
  let sum = 0;
  for (const x of xs) sum += x;
  return { count: xs.length, sum };
}
const emitItems = step({ dynamicOutput: true }, emit_items);
const processItem = step(process_item);
const mergeItems = step(merge_items);

const mapCollect = pipeline({ name: "bench_map_collect" }, (p: { n: number }) => {
  return mergeItems(emitItems(p.n).map(processItem).collect());
});

// ---- the table -----------------------------------------------------------------------------------

export const workloads: Record<string, Workload> = {
  fan_out: {
    name: "fan_out",
    description: "dynamic: count_partitions → N × process_partition(i, n) → merge_results(results)",
    stepRuns: (n) => n + 2,
    pipeline: fanOut as Pipeline<{ n: number }, unknown>,
    async floor(n) {
      const count = count_partitions(n);
      const results = await Promise.all(Array.from({ length: count }, (_, i) => process_partition(i, count)));
      return merge_results(results);
    },
  },
  chain: {
    name: "chain",
    description: "static: chain_start → (N−1) × chain_link, each on the previous output",
    stepRuns: (n) => n,
    pipeline: chain as Pipeline<{ n: number }, unknown>,
    async floor(n) {
      let x = chain_start();
      for (let i = 1; i < n; i++) x = chain_link(x);
      return x;
    },
  },
  wide: {
    name: "wide",
    description: "static: N independent wide_item(i) steps",
    stepRuns: (n) => n,
    pipeline: wide as Pipeline<{ n: number }, unknown>,
    async floor(n) {
      await Promise.all(Array.from({ length: n }, (_, i) => wide_item(i)));
      return null;
    },
  },
  map_collect: {
    name: "map_collect",
    description: "static: emit_items (N DynamicOutputs) .map(process_item).collect() → merge_items",
    stepRuns: (n) => n + 2,
    pipeline: mapCollect as Pipeline<{ n: number }, unknown>,
    async floor(n) {
      const xs: number[] = [];
      for (const item of emit_items(n)) xs.push(item.value);
      return merge_items(await Promise.all(xs.map((x) => process_item(x))));
    },
  },
};
