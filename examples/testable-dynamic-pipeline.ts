// Seed: ZenML "Testing Dynamic Pipelines". The size that decides the branch is a
// parameter, so tests can drive each branch: testSize 50 → "small-50", 200 → "large-200".
// Run it: weir run examples/testable-dynamic-pipeline.ts --param testSize=200
import { pipeline, step } from "weir";

/** Allow injecting the size for testing. */
export const getSize = step(function get_size(testSize: number): number {
  return testSize;
});

export const processSmall = step(function process_small(data: number): string {
  return `small-${data}`;
});

export const processLarge = step(function process_large(data: number): string {
  return `large-${data}`;
});

// testSize defaults to 50 so that `weir demo` can run the pipeline without parameters.
export const testableDynamicPipeline = pipeline(
  { name: "testable_dynamic_pipeline", dynamic: true },
  async ({ testSize = 50 }: { testSize?: number }) => {
    const size = getSize(testSize);
    if ((await size) < 100) return processSmall(size);
    return processLarge(size);
  },
);
