// Client look-ups of named artifacts and their lineage.
import { describe, expect, it } from "vitest";
import { Client, pipeline, RunNotFoundError, step } from "weir";
import { useTempHome } from "../helpers.js";

useTempHome();

const load = step(function load_numbers(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
});
const sum = step(function sum_numbers(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
});
const numbers = pipeline(function client_numbers({ n }: { n: number }) {
  return sum(load(n));
});

describe("Client.getArtifact", () => {
  it("finds a named artifact's newest version or a given one, with who produced and consumed it", async () => {
    const first = await numbers.run({ n: 3 });
    const second = await numbers.run({ n: 4 });
    const client = new Client();

    const newest = await client.getArtifact("client_numbers::load_numbers::output");
    expect(newest.version).toBe(2);
    expect(await newest.load()).toEqual([0, 1, 2, 3]);
    expect(newest.producedBy).toMatchObject({ runId: second.id, invocationId: "load_numbers", outputName: "output", mappingKey: null });
    expect(newest.consumedBy).toEqual([
      { runId: second.id, stepRunId: second.steps.find((s) => s.name === "sum_numbers")!.id, invocationId: "sum_numbers", inputName: "arg0" },
    ]);

    const older = await client.getArtifact("client_numbers::load_numbers::output", 1);
    expect(await older.load()).toEqual([0, 1, 2]);
    expect(older.producedBy?.runId).toBe(first.id);
    expect((await client.getArtifact("client_numbers::sum_numbers::output")).consumedBy).toEqual([]);

    // A cache hit reuses the version: the lineage says which run reused it.
    const again = await numbers.run({ n: 4 });
    const reused = await client.getArtifact("client_numbers::load_numbers::output");
    expect(reused.version).toBe(2);
    expect(reused.reusedBy.map((r) => r.runId)).toEqual([again.id]);
    expect(reused.consumedBy.map((c) => c.runId).sort()).toEqual([second.id, again.id].sort());

    await expect(client.getArtifact("client_numbers::nope::output")).rejects.toThrow(RunNotFoundError);
    await expect(client.getArtifact("client_numbers::load_numbers::output", 7)).rejects.toThrow("has no version 7 (it has 1 to 2)");
  });
});

describe("Client.listRunSummaries", () => {
  const flaky = step(function summary_fails(x: number): number {
    if (x > 1) throw new Error("too big");
    return x;
  });
  const mixed = pipeline({ name: "client_summaries", dynamic: true }, async () => {
    const ok = flaky(1);
    const bad = flaky(2);
    await ok;
    return (await Promise.allSettled([bad])).length;
  });

  it("lists runs as listRuns does, with step counts by status instead of the step runs", async () => {
    await numbers.run({ n: 2 });
    await mixed.run({});
    const client = new Client();
    const full = await client.listRuns({ limit: 10 });
    const summaries = await client.listRunSummaries({ limit: 10 });
    expect(summaries.map((s) => s.id)).toEqual(full.map((r) => r.id));
    for (const [i, { steps, output: _output, ...run }] of full.entries()) {
      const { output: _summaryOutput, stepCount, stepCounts, ...summary } = summaries[i];
      expect(summary).toEqual(run);
      expect(stepCount).toBe(steps.length);
      const counted: Record<string, number> = {};
      for (const s of steps) counted[s.status] = (counted[s.status] ?? 0) + 1;
      expect(stepCounts).toEqual(counted);
    }
    expect(summaries.find((s) => s.pipelineName === "client_summaries")!.stepCounts).toEqual({ completed: 1, failed: 1 });
    expect(await summaries[0].output()).toEqual(await full[0].output());
  });
});
