// Seed: ZenML "Static Pipelines". The whole graph is known before any step runs:
//   load_data → process_data → save_results
// Run it: weir run examples/static-pipeline.ts
import { pipeline, step } from "weir";

export const loadData = step(function load_data(): { records: number } {
  return { records: 100 };
});

export const processData = step(function process_data(data: { records: number }): { processed: number } {
  return { processed: data.records * 2 };
});

export const saveResults = step(function save_results(data: { processed: number }): void {
  console.log(`Saved ${data.processed} records`);
});

/** All steps are known before execution starts. */
export const staticPipeline = pipeline(function static_pipeline() {
  const data = loadData();
  const processed = processData(data);
  saveResults(processed);
  // Unlike the seed, the pipeline returns what it processed, so callers (and `weir run`) see a result.
  return processed;
});
