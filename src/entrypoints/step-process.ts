// Imported first by the step entry point (step.ts), before weir's preset: marks this process
// as a step process, which runs one attempt and never submits or drives a run. The preset then
// leaves the engine and the pipeline runner to load on first use (presets/default.ts): they
// are a good part of a step process's boot, paid once per attempt.
(globalThis as Record<symbol, unknown>)[Symbol.for("weir.stepProcess")] = true;

export {};
