import { describe, expect, it } from "vitest";
import {
  Client,
  pipeline,
  PipelineRunFailedError,
  StaticPipelineValueError,
  step,
  StepArgumentError,
} from "weir";
import { sleep, store, useTempHome } from "../helpers.js";

useTempHome();

const loadData = step(function load_data() {
  return { records: 100 };
});
const processData = step(function process_data(data: { records: number }) {
  return { processed: data.records * 2 };
});
const saveResults = step(function save_results(data: { processed: number }) {
  return `Saved ${data.processed} records`;
});
const addNumbers = step(function add(a: number, b: number) {
  return a + b;
});
const sumAll = step(function total(values: number[]) {
  return values.reduce((s, v) => s + v, 0);
});

const staticPipeline = pipeline(function static_pipeline() {
  const data = loadData();
  const processed = processData(data);
  return saveResults(processed);
});

describe("static pipelines: compile", () => {
  it("returns the snapshot without running anything", async () => {
    const before = (await (await store()).listRuns()).length;
    const snapshot = await staticPipeline.compile();
    expect(snapshot.pipelineName).toBe("static_pipeline");
    expect(snapshot.isDynamic).toBe(false);
    expect(snapshot.parameters).toEqual({});
    expect(Object.keys(snapshot.steps)).toEqual(["load_data", "process_data", "save_results"]);
    expect(snapshot.steps.process_data.upstream).toEqual(["load_data"]);
    expect(snapshot.steps.save_results.upstream).toEqual(["process_data"]);
    expect(snapshot.steps.load_data.settings.resources).toEqual({});
    expect((await (await store()).listRuns()).length).toBe(before);
  });

  it("numbers repeated calls name, name_2, … and records literal parameters", async () => {
    const p = pipeline(function repeated() {
      const a = addNumbers(1, 2);
      const b = addNumbers(a, 3);
      addNumbers(a, b);
    });
    const snapshot = await p.compile();
    expect(Object.keys(snapshot.steps)).toEqual(["add", "add_2", "add_3"]);
    expect(snapshot.steps.add.parameters).toEqual({ a: 1, b: 2 });
    expect(snapshot.steps.add_2.parameters).toEqual({ b: 3 });
    expect(snapshot.steps.add_2.upstream).toEqual(["add"]);
    expect(snapshot.steps.add_3.upstream).toEqual(["add", "add_2"]);
  });

  it("turns arrays of handles into fan-in edges", async () => {
    const p = pipeline(function fan_in() {
      const parts = [addNumbers(1, 1), addNumbers(2, 2), addNumbers(3, 3)];
      return sumAll(parts);
    });
    const snapshot = await p.compile();
    expect(snapshot.steps.total.upstream).toEqual(["add", "add_2", "add_3"]);
    expect(await p()).toBe(12);
  });

  it("passes pipeline parameters to the function", async () => {
    const p = pipeline(function with_params(params: { x: number }) {
      return addNumbers(params.x, 1);
    });
    const snapshot = await p.compile({ x: 41 });
    expect(snapshot.parameters).toEqual({ x: 41 });
    expect(snapshot.steps.add.parameters).toEqual({ a: 41, b: 1 });
    expect(await p({ x: 41 })).toBe(42);
  });

  it.each([
    ["await", async () => await (loadData() as unknown as Promise<unknown>)],
    ["comparison", () => (loadData() as unknown as number) < 10],
    ["arithmetic", () => (loadData() as unknown as number) + 1],
    ["string conversion", () => `${loadData()}`],
  ])("refuses to use a handle's value (%s) and says to declare dynamic: true", async (_, use) => {
    const p = pipeline({ name: "misuse" }, () => use());
    const error = await p.compile().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaticPipelineValueError);
    expect((error as Error).message).toMatch(/pipeline "misuse" is static.*output of step "load_data".*dynamic: true/);
  });

  it("rejects a non-JSON parameter naming the step and the argument", async () => {
    const p = pipeline(function bad_param() {
      addNumbers(1, (() => 2) as unknown as number);
    });
    const error = await p.compile().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepArgumentError);
    expect((error as Error).message).toMatch(/step "add": argument "b" \(position 1\) is not JSON-serializable \(a function\)/);
    const runsBefore = (await (await store()).listRuns()).length;
    await expect(p.run()).rejects.toThrow(StepArgumentError);
    expect((await (await store()).listRuns()).length).toBe(runsBefore);
  });
});

describe("static pipelines: runs", () => {
  it("runs the seed's static pipeline and records everything", async () => {
    const run = await staticPipeline.run();
    expect(run.status).toBe("completed");
    expect(run.isDynamic).toBe(false);
    expect(await run.output()).toBe("Saved 200 records");
    expect(run.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ["load_data", "completed", 1],
      ["process_data", "completed", 1],
      ["save_results", "completed", 1],
    ]);
    for (const s of run.steps) {
      expect(s.startedAt!.getTime()).toBeLessThanOrEqual(s.endedAt!.getTime());
    }
    const s = await store();
    const record = (await s.getRun(run.id))!;
    const snapshot = (await s.getSnapshot(record.snapshotId))!;
    expect(snapshot.isDynamic).toBe(false);
    const configs = await s.listStepConfigurations({ snapshotId: snapshot.id });
    expect(configs.map((c) => c.invocationId).sort()).toEqual(["load_data", "process_data", "save_results"]);
    // Written once: the configurations listed are the snapshot spec's steps.
    const specSteps = (snapshot.spec as { steps: Record<string, unknown> }).steps;
    for (const config of configs) expect(config.config).toEqual(specSteps[config.invocationId]);
    const ownConfigs = await s.listStepConfigurations({ stepRunId: run.steps[0].id });
    expect(ownConfigs).toEqual([]);

    const details = await new Client().getStepRun(run.id, "process_data");
    expect(details.inputs).toHaveLength(1);
    expect(details.inputs[0].artifact.dataType).toBe("object");
    expect(details.outputs[0].artifact.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(await new Client().loadArtifact(details.outputs[0].artifact.id)).toEqual({ processed: 200 });
    expect((details.configuration as { stepName: string }).stepName).toBe("process_data");
    expect(details.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("calling the pipeline gives the loaded return value, deeply", async () => {
    const p = pipeline(function deep() {
      const a = addNumbers(1, 2);
      return { a, list: [a, addNumbers(a, 1)], plain: "x" };
    });
    expect(await p()).toEqual({ a: 3, list: [3, 4], plain: "x" });
  });

  it("a failure fails the run, skips what can no longer run and finishes independent steps", async () => {
    const boomStep = step(function boom(): number {
      throw new Error("kaboom");
    });
    const slowIndependent = step(async function slow_independent() {
      await sleep(30);
      return "done";
    });
    const p = pipeline(function failing_static() {
      const b = boomStep();
      const after = addNumbers(b, 1);
      addNumbers(after, 1);
      slowIndependent();
    });
    const run = await p.run();
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/step "boom" failed: kaboom/);
    const byName = Object.fromEntries(run.steps.map((s) => [s.name, s]));
    expect(byName.boom.status).toBe("failed");
    expect(byName.boom.error).toMatch(/kaboom/);
    expect(byName.add.status).toBe("skipped");
    expect(byName.add_2.status).toBe("skipped");
    expect(byName.slow_independent.status).toBe("completed");

    const error = await p().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineRunFailedError);
    expect((error as PipelineRunFailedError).failedSteps).toEqual(["boom"]);
    expect((error as PipelineRunFailedError).runId).toMatch(/[0-9a-f-]{36}/);
    expect(((error as PipelineRunFailedError).cause as Error).message).toMatch(/kaboom/);
  });

  it("runs independent steps concurrently", async () => {
    const spans: [number, number][] = [];
    const wait = step(async function wait_a_bit(i: number) {
      const start = Date.now();
      await sleep(60);
      spans.push([start, Date.now()]);
      return i;
    });
    const p = pipeline(function parallel_static() {
      return [wait(1), wait(2), wait(3)];
    });
    expect(await p()).toEqual([1, 2, 3]);
    const latestStart = Math.max(...spans.map((s) => s[0]));
    const earliestEnd = Math.min(...spans.map((s) => s[1]));
    expect(latestStart).toBeLessThan(earliestEnd);
  });

  it("a step output no materializer can store fails that step naming output and type", async () => {
    class Model {
      weights = [1];
    }
    const train = step(function train_model() {
      return new Model();
    });
    const returnsFunction = step(function returns_function() {
      return () => 1;
    });
    const p = pipeline(function unstorable() {
      train();
      returnsFunction();
    });
    const run = await p.run();
    expect(run.status).toBe("failed");
    const byName = Object.fromEntries(run.steps.map((s) => [s.name, s]));
    expect(byName.train_model.error).toMatch(/step "train_model": output "output" is (an instance of )?Model/);
    expect(byName.returns_function.error).toMatch(/step "returns_function": output "output" is .*function/);
  });
});
