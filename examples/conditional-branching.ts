// Seed: ZenML "Conditional Branching". Different step sequences run depending on what
// analyze_data finds. The seed's check_quality() helper is made deterministic here: the
// quality score is the `quality` parameter (default 0.7 → "needs_validation").
// Run it: weir run examples/conditional-branching.ts --param quality=0.3
import { pipeline, step, type OutputHandle } from "weir";

type Strategy = "needs_cleaning" | "needs_validation" | "ready";
type Data = Record<string, unknown>;

/** Stands in for a real data-quality check; a pipeline must branch the same way on a rerun. */
function checkQuality(quality: number): number {
  return quality;
}

export const analyzeData = step(function analyze_data(quality: number): Strategy {
  const dataQuality = checkQuality(quality);
  if (dataQuality < 0.5) return "needs_cleaning";
  if (dataQuality < 0.8) return "needs_validation";
  return "ready";
});

export const cleanData = step(function clean_data(data: Data = {}): Data {
  return { ...data, cleaned: true };
});

export const validateData = step(function validate_data(data: Data = {}): Data {
  return { ...data, validated: true };
});

export const processData = step(function process_data(data: Data): Data {
  return { processed: true, input: data };
});

/** Adapt processing based on data quality. */
export const adaptivePipeline = pipeline(
  { name: "adaptive_pipeline", dynamic: true },
  async ({ quality = 0.7 }: { quality?: number }) => {
    const strategy = await analyzeData(quality);
    let data: OutputHandle<Data> | Data;
    if (strategy === "needs_cleaning") {
      data = validateData(cleanData());
    } else if (strategy === "needs_validation") {
      data = validateData();
    } else {
      data = { status: "ready" };
    }
    return processData(data);
  },
);
