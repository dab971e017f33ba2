import { describe, expect, it } from "vitest";
import {
  BaseOrchestrator,
  HandleValueError,
  LocalArtifactStore,
  LocalOrchestrator,
  MapInputError,
  OrchestratorNotSupportedError,
  pipeline,
  PipelineRunFailedError,
  Stack,
  step,
  unmapped,
} from "weir";
import { join } from "node:path";
import { sleep, store, useTempHome } from "../helpers.js";

const home = useTempHome();

// ---- the seed's steps, in TypeScript ---------------------------------------------------

const checkDataSize = step(function check_data_size(size: number) {
  return size;
});
const processSmallBatch = step(
  { name: "process_small_batch", settings: { resources: { cpuCount: 2, memory: "4GB" } } },
  (batchId: number) => ({ batch: batchId, processed: true, kind: "small" }),
);
const processLargeBatch = step(
  { name: "process_large_batch", settings: { resources: { cpuCount: 8, memory: "16GB" } } },
  (batchId: number) => ({ batch: batchId, processed: true, kind: "large" }),
);
const dynamicPipeline = pipeline({ name: "dynamic_pipeline", dynamic: true }, async (p: { size: number }) => {
  const size = await checkDataSize(p.size);
  if (size < 10_000) return [0, 1, 2].map((i) => processSmallBatch(i));
  return Array.from({ length: 10 }, (_, i) => processLargeBatch(i));
});

const countPartitions = step(function count_partitions(totalRecords: number) {
  return Math.ceil(totalRecords / 10_000);
});
const processPartition = step(function process_partition(partitionId: number, total: number) {
  return { partition: partitionId, total_partitions: total, records_processed: 10_000 };
});
const mergeResults = step(function merge_results(results: { records_processed: number }[]) {
  return { total_processed: results.reduce((s, r) => s + r.records_processed, 0) };
});
const dynamicParallelPipeline = pipeline(
  { name: "dynamic_parallel_pipeline", dynamic: true },
  async (p: { totalRecords: number }) => {
    const numPartitions = await countPartitions(p.totalRecords);
    const results = Array.from({ length: numPartitions }, (_, i) => processPartition(i, numPartitions));
    return mergeResults(results);
  },
);

const analyzeData = step(function analyze_data(quality: number) {
  return quality < 0.5 ? "needs_cleaning" : quality < 0.8 ? "needs_validation" : "ready";
});
const cleanData = step(function clean_data() {
  return { cleaned: true };
});
const validateData = step(function validate_data(data?: Record<string, unknown>) {
  return { ...data, validated: true };
});
const processData = step(function process_data(data: Record<string, unknown>) {
  return { ...data, processed: true };
});
const adaptivePipeline = pipeline({ name: "adaptive_pipeline", dynamic: true }, async (p: { quality: number }) => {
  const quality = await analyzeData(p.quality);
  let data;
  if (quality === "needs_cleaning") {
    data = validateData(cleanData());
  } else if (quality === "needs_validation") {
    data = validateData();
  } else {
    data = { status: "ready" };
  }
  return processData(data);
});

const checkExternalApi = step(function check_external_api(config: { gpu_available: boolean }) {
  return config; // stands in for an HTTP call: tests have no network
});
const processWithGpu = step(function process_with_gpu(data: object) {
  return { method: "gpu", result: data };
});
const processWithCpu = step(function process_with_cpu(data: object) {
  return { method: "cpu", result: data };
});
const externalConfigPipeline = pipeline(
  { name: "external_config_pipeline", dynamic: true },
  async (p: { gpu: boolean }) => {
    const config = checkExternalApi({ gpu_available: p.gpu });
    return (await config).gpu_available ? processWithGpu(config) : processWithCpu(config);
  },
);

const getSize = step(function get_size(testSize: number) {
  return testSize;
});
const processSmall = step(function process_small(data: number) {
  return `small-${data}`;
});
const processLarge = step(function process_large(data: number) {
  return `large-${data}`;
});
const testableDynamicPipeline = pipeline(
  { name: "testable_dynamic_pipeline", dynamic: true },
  async (p: { testSize: number }) => {
    const size = await getSize(p.testSize);
    return size < 100 ? processSmall(size) : processLarge(size);
  },
);

describe("the seed's dynamic pipelines", () => {
  it("branches on a step's value (Dynamic Pipelines)", async () => {
    const small = await dynamicPipeline.run({ size: 1_000 });
    expect(small.status).toBe("completed");
    expect(small.steps.map((s) => s.name)).toEqual(["check_data_size", "process_small_batch", "process_small_batch_2", "process_small_batch_3"]);
    expect(await dynamicPipeline({ size: 1_000_000 })).toHaveLength(10);
    expect((await dynamicPipeline({ size: 1_000_000 }))[9]).toEqual({ batch: 9, processed: true, kind: "large" });
  });

  it("records the snapshot as dynamic and each step's configuration with its step run", async () => {
    const compiled = await dynamicPipeline.compile({ size: 1 });
    expect(compiled).toEqual({ pipelineName: "dynamic_pipeline", isDynamic: true, parameters: { size: 1 }, steps: {} });
    const run = await dynamicPipeline.run({ size: 1 });
    const s = await store();
    const snapshot = (await s.getSnapshot((await s.getRun(run.id))!.snapshotId))!;
    expect(snapshot.isDynamic).toBe(true);
    expect(await s.listStepConfigurations({ snapshotId: snapshot.id })).toEqual([]);
    const batch = run.steps.find((st) => st.name === "process_small_batch_2")!;
    const configs = await s.listStepConfigurations({ stepRunId: batch.id });
    expect(configs).toHaveLength(1);
    expect(configs[0].snapshotId).toBeNull();
    expect((configs[0].config as { settings: { resources: unknown } }).settings.resources).toEqual({
      cpuCount: 2,
      memory: "4GB",
      memoryBytes: 4e9,
    });
  });

  it("fans out by data and fans in (Dynamic Parallelism)", async () => {
    const run = await dynamicParallelPipeline.run({ totalRecords: 35_000 });
    expect(await run.output()).toEqual({ total_processed: 40_000 });
    expect(run.steps.filter((s) => s.stepName === "process_partition")).toHaveLength(4);
    const merge = run.steps.find((s) => s.name === "merge_results")!;
    expect(merge.upstream).toEqual(["process_partition", "process_partition_2", "process_partition_3", "process_partition_4"]);
  });

  it.each([
    [0.3, ["analyze_data", "clean_data", "validate_data", "process_data"], { cleaned: true, validated: true, processed: true }],
    [0.6, ["analyze_data", "validate_data", "process_data"], { validated: true, processed: true }],
    [0.9, ["analyze_data", "process_data"], { status: "ready", processed: true }],
  ])("adapts to data quality %s (Conditional Branching)", async (quality, steps, output) => {
    const run = await adaptivePipeline.run({ quality });
    expect(run.steps.map((s) => s.name)).toEqual(steps);
    expect(await run.output()).toEqual(output);
  });

  it("decides from an external input (External Input Integration)", async () => {
    expect(await externalConfigPipeline({ gpu: true })).toEqual({ method: "gpu", result: { gpu_available: true } });
    expect(await externalConfigPipeline({ gpu: false })).toEqual({ method: "cpu", result: { gpu_available: false } });
  });

  it("tests both branches (Testing Dynamic Pipelines)", async () => {
    expect(await testableDynamicPipeline({ testSize: 50 })).toContain("small");
    expect(await testableDynamicPipeline({ testSize: 200 })).toContain("large");
  });
});

describe("dynamic execution", () => {
  it("starts independent steps in parallel", async () => {
    const spans: [number, number][] = [];
    const slow = step(async function slow_step(i: number) {
      const start = Date.now();
      await sleep(80);
      spans.push([start, Date.now()]);
      return i;
    });
    const p = pipeline({ name: "parallel_dynamic", dynamic: true }, async () => {
      const handles = [slow(1), slow(2), slow(3), slow(4)];
      const values = await Promise.all(handles);
      return values.reduce((a, b) => a + b, 0);
    });
    expect(await p()).toBe(10);
    // Every step started before any ended: they overlapped (a wall-clock bound flakes under load).
    expect(Math.max(...spans.map((s) => s[0]))).toBeLessThan(Math.min(...spans.map((s) => s[1])));
  });

  it("passes handles as data edges without loading them in the pipeline", async () => {
    const p = pipeline({ name: "edges", dynamic: true }, async () => {
      const partitions = countPartitions(20_000);
      return processPartition(1, partitions);
    });
    const run = await p.run();
    expect(await run.output()).toEqual({ partition: 1, total_partitions: 2, records_processed: 10_000 });
    expect(run.steps.find((s) => s.stepName === "process_partition")!.upstream).toEqual(["count_partitions"]);
  });

  it("says to await a handle used as a value", async () => {
    const p = pipeline({ name: "compare_handle", dynamic: true }, async () => {
      const size = getSize(3);
      return (size as unknown as number) < 10;
    });
    const run = await p.run();
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/is a handle, not a value: use `await handle`/);
    expect(run.cause).toBeInstanceOf(HandleValueError);
  });
});

describe("dynamic failure semantics", () => {
  const flaky = step(function always_fails(): number {
    throw new Error("broken step");
  });

  it("a failure the function catches is handled and the run completes", async () => {
    const p = pipeline({ name: "caught_failure", dynamic: true }, async () => {
      try {
        return await flaky();
      } catch {
        return getSize(7);
      }
    });
    const run = await p.run();
    expect(run.status).toBe("completed");
    expect(await run.output()).toBe(7);
    expect(run.steps.find((s) => s.name === "always_fails")!.status).toBe("failed");
  });

  it("a failure of a downstream step that is caught also counts as handled", async () => {
    const p = pipeline({ name: "caught_downstream", dynamic: true }, async () => {
      const broken = flaky();
      try {
        await processSmall(broken);
      } catch (error) {
        return String((error as Error).message);
      }
    });
    const run = await p.run();
    expect(run.status).toBe("completed");
    expect(await run.output()).toMatch(/upstream step "always_fails" failed/);
    expect(run.steps.find((s) => s.name === "process_small")!.status).toBe("skipped");
  });

  it("a failure nobody awaited fails the run", async () => {
    const p = pipeline({ name: "unobserved_failure", dynamic: true }, async () => {
      flaky();
      return getSize(1);
    });
    const run = await p.run();
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/step "always_fails" failed: broken step/);
    expect(await p().catch((e: PipelineRunFailedError) => e.failedSteps)).toEqual(["always_fails"]);
  });

  it("an exception from the function fails the run, keeps the graph and waits for running steps", async () => {
    let finishedAt = 0;
    // The function throws only once the step has started: a step still looking up its cache
    // (a round trip on PostgreSQL) when the function fails is skipped, not waited for.
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const slow = step(async function slow_to_finish() {
      markStarted();
      await sleep(100);
      finishedAt = Date.now();
      return 1;
    });
    const p = pipeline({ name: "function_throws", dynamic: true }, async () => {
      slow();
      await getSize(2);
      await started;
      throw new Error("discovery went wrong");
    });
    const run = await p.run();
    expect(run.status).toBe("failed");
    expect(run.error).toBe("discovery went wrong");
    expect(run.steps.map((s) => [s.name, s.status])).toEqual([
      ["slow_to_finish", "completed"],
      ["get_size", "completed"],
    ]);
    expect(finishedAt).toBeGreaterThan(0);
    expect(run.endedAt!.getTime()).toBeGreaterThanOrEqual(finishedAt);
  });

  it("a step still looking up its cache when the function throws is skipped and never runs", async () => {
    // An artifact store whose `exists` is slow and says no: the lookup of the earlier run's
    // output takes a while (as a PostgreSQL or S3 round trip does) and ends in a miss.
    class SlowMissStore extends LocalArtifactStore {
      slow = false;
      override async exists(uri: string): Promise<boolean> {
        if (!this.slow) return super.exists(uri);
        await sleep(150);
        return false;
      }
    }
    const artifacts = new SlowMissStore({ path: join(home, "slow-miss-artifacts"), name: "slow-miss-artifacts" });
    const stack = new Stack({ name: "slow_lookup", orchestrator: new LocalOrchestrator({ name: "slow-lookup-orch" }), artifactStore: artifacts });
    let executions = 0;
    const lookedUp = step(function looked_up() {
      executions += 1;
      return "value";
    });
    const first = await pipeline({ name: "cache_filler" }, () => lookedUp()).run({}, { stack });
    expect(first.status).toBe("completed");
    expect(executions).toBe(1);

    artifacts.slow = true;
    const p = pipeline({ name: "throws_during_lookup", dynamic: true }, async () => {
      lookedUp();
      await getSize(3);
      throw new Error("gave up");
    });
    const run = await p.run({}, { stack });
    expect(run.status).toBe("failed");
    expect(run.steps.find((s) => s.name === "looked_up")!.status).toBe("skipped");
    // Nothing new starts once the run stops, even if the lookup was already under way (the
    // run has returned by now; the lookup ends after it, and must not launch the step then).
    await sleep(300);
    expect(executions).toBe(1);
  });

  it("the run ends only when every launched step has ended", async () => {
    let done = false;
    const background = step(async function background_work() {
      await sleep(60);
      done = true;
      return "bg";
    });
    const p = pipeline({ name: "not_awaited", dynamic: true }, async () => {
      background();
      return "returned early";
    });
    expect(await p()).toBe("returned early");
    expect(done).toBe(true);
  });
});

describe("fan-out helpers", () => {
  const scaleBy = step(function scale(x: number, factor: number) {
    return x * factor;
  });
  const listOf = step(function list_of(n: number) {
    return Array.from({ length: n }, (_, i) => i + 1);
  });
  const pair = step(function pair(a: string, b: number) {
    return `${a}${b}`;
  });

  it("map over a list output with unmapped arguments (zip)", async () => {
    const p = pipeline({ name: "map_list", dynamic: true }, async () => {
      const results = await scaleBy.map(listOf(4), unmapped(10));
      return sumAll(results);
    });
    const run = await p.run();
    expect(await run.output()).toBe(100);
    expect(run.steps.filter((s) => s.stepName === "scale").map((s) => s.name)).toEqual(["scale", "scale_2", "scale_3", "scale_4"]);
  });

  it("map over plain arrays zips them", async () => {
    const p = pipeline({ name: "map_plain", dynamic: true }, async () => Promise.all(scaleBy.map([1, 2, 3], [5, 6, 7])));
    expect(await p()).toEqual([5, 12, 21]);
  });

  it("product runs every combination", async () => {
    const p = pipeline({ name: "product", dynamic: true }, async () => Promise.all(pair.product(["a", "b"], [1, 2])));
    expect(await p()).toEqual(["a1", "a2", "b1", "b2"]);
  });

  it("an empty list or unequal lengths are errors naming the step", async () => {
    const empty = pipeline({ name: "map_empty", dynamic: true }, async () => scaleBy.map(listOf(0), unmapped(2)));
    const run = await empty.run();
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/step "scale": cannot map over an empty list/);
    expect(run.cause).toBeInstanceOf(MapInputError);
    const unequal = pipeline({ name: "map_unequal", dynamic: true }, async () => scaleBy.map([1, 2], [1]));
    expect((await unequal.run()).error).toMatch(/step "scale": map zips its lists, but argument 0 has 2 items and argument 1 has 1/);
  });

  it("withOptions sets the invocation id and pure ordering dependencies", async () => {
    const order: string[] = [];
    const first = step(async function first_step() {
      await sleep(40);
      order.push("first");
      return 1;
    });
    const second = step(function second_step() {
      order.push("second");
      return 2;
    });
    const p = pipeline({ name: "ordering", dynamic: true }, async () => {
      const a = first();
      const b = second.withOptions({ id: "custom_second", after: [a] })();
      return [a, b];
    });
    const run = await p.run();
    expect(await run.output()).toEqual([1, 2]);
    expect(order).toEqual(["first", "second"]);
    const custom = run.steps.find((s) => s.name === "custom_second")!;
    expect(custom.stepName).toBe("second_step");
    expect(custom.upstream).toEqual(["first_step"]);
  });
});

const sumAll = step(function sum_all(values: number[]) {
  return values.reduce((a, b) => a + b, 0);
});

describe("orchestrator support and pipeline hooks", () => {
  class StaticOnly extends BaseOrchestrator {
    async submitPipeline() {
      return undefined;
    }
  }

  it("supportsDynamicPipelines is true exactly when submitDynamicPipeline is overridden", () => {
    expect(new StaticOnly().supportsDynamicPipelines).toBe(false);
    expect(new LocalOrchestrator().supportsDynamicPipelines).toBe(true);
  });

  it("a dynamic pipeline on an orchestrator without support fails before any step runs", async () => {
    let ran = false;
    const marker = step(function marker() {
      ran = true;
      return 1;
    });
    const p = pipeline({ name: "needs_dynamic", dynamic: true }, async () => marker());
    const stack = new Stack({ name: "static_only", orchestrator: new StaticOnly({ name: "static-only-orch" }) });
    const runsBefore = (await (await store()).listRuns()).length;
    const error = await p.run({}, { stack }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrchestratorNotSupportedError);
    expect((error as Error).message).toMatch(/orchestrator "static-only-orch"/);
    expect(ran).toBe(false);
    expect((await (await store()).listRuns()).length).toBe(runsBefore);
  });

  it("fires onSuccess / onFailure once per run", async () => {
    const calls: string[] = [];
    const ok = pipeline(
      { name: "hooked_ok", dynamic: true, onSuccess: (info) => void calls.push(`ok:${info.status}`), onFailure: () => void calls.push("bad") },
      async () => Promise.all([getSize(1), getSize(2)]),
    );
    const bad = pipeline(
      { name: "hooked_bad", dynamic: true, onSuccess: () => void calls.push("ok"), onFailure: (_, e) => void calls.push(`bad:${e.message}`) },
      async () => {
        throw new Error("nope");
      },
    );
    await ok.run();
    await bad.run();
    expect(calls).toEqual(["ok:completed", "bad:nope"]);
  });

  it("gives each run its own orchestrator run id", async () => {
    const a = await testableDynamicPipeline.run({ testSize: 1 });
    const b = await testableDynamicPipeline.run({ testSize: 1 });
    expect(a.orchestratorRunId).toMatch(/^local-/);
    expect(a.orchestratorRunId).not.toBe(b.orchestratorRunId);
  });
});
