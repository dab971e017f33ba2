// `p.run()` shows the run's step runs as the engine wrote them instead of reading every row
// back (RunRecorder.writtenStepRuns). That account must be exactly what the store holds.
import { describe, expect, it } from "vitest";
import { Client, DynamicOutput, getStepContext, pipeline, step, type PipelineRun } from "weir";
import * as orchestrate from "../../src/engine/orchestrate.js";
import { useTempHome } from "../helpers.js";

useTempHome("weir-run-view-");

/** The run as `run()` gave it and as a Client reads it from the store: the same, field for field. */
async function expectSameAsStored(run: PipelineRun): Promise<void> {
  const stored = await new Client().getRun(run.id);
  expect(run.steps.length).toBeGreaterThan(0);
  expect(run.steps).toEqual(stored.steps);
}

describe("the run view of p.run()", () => {
  it("comes from the engine's writes, and equals the stored step runs for every kind of outcome", async () => {
    let flakyCalls = 0;
    const flaky = step({ name: "view_flaky", retry: { maxRetries: 2 }, enableCache: false }, () => {
      flakyCalls += 1;
      if (flakyCalls < 2) throw new Error("first try fails");
      getStepContext().addMetadata({ when: new Date(0), nested: { skip: undefined, keep: 1 } });
      return "ok";
    });
    const broken = step({ name: "view_broken", enableCache: false }, () => {
      throw new Error("broken for good");
    });
    const downstream = step({ name: "view_downstream", enableCache: false }, (x: string) => x);
    const items = step({ dynamicOutput: true, name: "view_items", enableCache: false }, function* (n: number) {
      for (let i = 0; i < n; i++) yield new DynamicOutput(i, { mappingKey: `k${i}` });
    });
    const double = step({ name: "view_double", enableCache: false }, (x: number) => x * 2);
    const sum = step({ name: "view_sum", enableCache: false }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const slow = step({ name: "view_slow", enableCache: false }, async (x: number) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return x + 1;
    });
    const p = pipeline({ name: "view_kinds", dynamic: true, enableCache: false }, async () => {
      const total = await sum(items(3).map(double).collect());
      const later = await slow(total);
      try {
        await downstream(broken());
      } catch {
        // handled: the run goes on
      }
      return [await flaky(), later];
    });

    const spy = orchestrate.writtenStepRuns;
    let handedOver: unknown;
    const set = spy.set.bind(spy);
    spy.set = (key, value) => ((handedOver = value), set(key, value));
    try {
      const run = await p.run();
      expect(run.status).toBe("completed");
      // The engine's account was used (and nothing is left behind for another caller).
      expect(handedOver).toBeDefined();
      expect(spy.has(run.id)).toBe(false);
      expect(run.steps.map((s) => [s.name, s.status])).toEqual([
        // In discovery order: `sum` is called (with the collect) before the map expands.
        ["view_items", "completed"],
        ["view_sum", "completed"],
        ["view_double[k0]", "completed"],
        ["view_double[k1]", "completed"],
        ["view_double[k2]", "completed"],
        ["view_slow", "completed"],
        ["view_broken", "failed"],
        ["view_downstream", "skipped"],
        ["view_flaky", "completed"],
      ]);
      // Metadata reads back as JSON does: the Date as its string, the undefined key gone.
      expect(run.steps.find((s) => s.name === "view_flaky")!.metadata).toMatchObject({ when: new Date(0).toISOString(), nested: { keep: 1 } });
      await expectSameAsStored(run);
    } finally {
      spy.set = set;
    }
  });

  it("is read from the store when the engine's writes are not the whole story (cached steps of an earlier run too)", async () => {
    const cached = step({ name: "view_cached" }, (x: number) => x + 1);
    const p = pipeline({ name: "view_cache" }, () => cached(cached(1)));
    const first = await p.run();
    const second = await p.run();
    expect(second.steps.map((s) => s.status)).toEqual(["cached", "cached"]);
    expect(second.steps[0].originalStepRunId).toBe(first.steps[0].id);
    await expectSameAsStored(first);
    await expectSameAsStored(second);
  });
});
