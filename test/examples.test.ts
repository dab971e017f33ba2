// Every example pipeline, run in-process on a temporary home, with its real output checked.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Client } from "weir";
import { closeMetadataStores } from "../src/config/home.js";
import { adaptivePipeline } from "../examples/conditional-branching.js";
import { dynamicParallelPipeline } from "../examples/dynamic-parallelism.js";
import { dynamicPipeline } from "../examples/dynamic-pipeline.js";
import { externalConfigPipeline } from "../examples/external-input.js";
import { processDirectory } from "../examples/process-directory.js";
import { staticPipeline } from "../examples/static-pipeline.js";
import { testableDynamicPipeline } from "../examples/testable-dynamic-pipeline.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-examples-"));
afterAll(() => closeMetadataStores());

const stepNames = (run: { steps: { name: string }[] }) => run.steps.map((s) => s.name).sort();

describe("examples", () => {
  it("static_pipeline: load_data → process_data → save_results, known before it runs", async () => {
    const snapshot = await staticPipeline.compile();
    expect(snapshot.isDynamic).toBe(false);
    expect(Object.keys(snapshot.steps)).toEqual(["load_data", "process_data", "save_results"]);
    expect(snapshot.steps.save_results.upstream).toEqual(["process_data"]);
    expect(await staticPipeline()).toEqual({ processed: 200 });
  });

  it("dynamic_pipeline: 1M records take the large branch, with its resource settings recorded", async () => {
    const run = await dynamicPipeline.run();
    expect(run.status).toBe("completed");
    expect(await run.output()).toEqual(Array.from({ length: 10 }, (_, batch) => ({ batch, processed: true })));
    expect(run.steps.filter((s) => s.stepName === "process_large_batch")).toHaveLength(10);
    const details = await new Client().getStepRun(run.id, "process_large_batch_3");
    expect((details.configuration as { settings: { resources: unknown } }).settings.resources).toMatchObject({ cpuCount: 8 });
  });

  it("adaptive_pipeline: the quality score picks the steps", async () => {
    expect(await adaptivePipeline({})).toEqual({ processed: true, input: { validated: true } });
    expect(await adaptivePipeline({ quality: 0.3 })).toEqual({ processed: true, input: { cleaned: true, validated: true } });
    const ready = await adaptivePipeline.run({ quality: 0.9 });
    expect(await ready.output()).toEqual({ processed: true, input: { status: "ready" } });
    expect(stepNames(ready)).toEqual(["analyze_data", "process_data"]);
  });

  it("dynamic_parallel_pipeline: 35,000 records → 4 partitions × 10,000 merged", async () => {
    const run = await dynamicParallelPipeline.run({});
    expect(await run.output()).toEqual({ total_processed: 40_000 });
    const partitions = run.steps.filter((s) => s.stepName === "process_partition");
    expect(partitions).toHaveLength(4);
    for (const partition of partitions) expect(partition.upstream).toEqual(["count_partitions"]);
    expect(await dynamicParallelPipeline({ totalRecords: 100_000 })).toEqual({ total_processed: 100_000 });
  });

  it("external_config_pipeline: the config file decides between GPU and CPU", async () => {
    expect(await externalConfigPipeline({})).toMatchObject({ method: "cpu", result: { gpu_available: false } });
    const gpuConfig = join(process.env.WEIR_HOME!, "gpu.json");
    writeFileSync(gpuConfig, JSON.stringify({ gpu_available: true }));
    expect(await externalConfigPipeline({ configPath: gpuConfig })).toEqual({ method: "gpu", result: { gpu_available: true } });
  });

  it("testable_dynamic_pipeline: each branch is reachable through the parameter", async () => {
    expect(await testableDynamicPipeline({ testSize: 50 })).toBe("small-50");
    expect(await testableDynamicPipeline({ testSize: 200 })).toBe("large-200");
  });

  it("process_directory: one process_file run per sample file, summarized in order", async () => {
    const files = readdirSync(new URL("../examples/data/sample", import.meta.url)).sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    const run = await processDirectory.run({});
    expect(run.status).toBe("completed");
    const summary = (await run.output()) as { files: string[]; lines: number; words: number };
    expect(summary.files).toEqual(files);
    expect(summary.words).toBeGreaterThan(0);
    const mapped = files.map((f) => `process_file[${f.replace(/[^A-Za-z0-9_]/g, "_")}]`);
    expect(stepNames(run)).toEqual(["files_in_directory", ...mapped, "summarize_directory"].sort());
  });
});
