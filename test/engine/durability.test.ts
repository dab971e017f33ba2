import { describe, expect, it } from "vitest";
import { Client, DynamicOutput, getStepContext, pipeline, step } from "weir";
import { sleep, useTempHome } from "../helpers.js";

useTempHome();

describe("cache across runs", () => {
  let executions = 0;
  const expensiveStep = step(function expensive(x: number) {
    executions += 1;
    return { squared: x * x };
  });
  const useIt = step(function use_it(v: { squared: number }) {
    executions += 1;
    return v.squared + 1;
  });
  const cached = pipeline(function cached_pipeline(p: { x: number }) {
    return useIt(expensiveStep(p.x));
  });

  it("reuses outputs of an identical step run and links the original", async () => {
    executions = 0;
    const first = await cached.run({ x: 3 });
    expect(executions).toBe(2);
    const second = await cached.run({ x: 3 });
    expect(executions).toBe(2);
    expect(await second.output()).toBe(10);
    expect(second.steps.map((s) => s.status)).toEqual(["cached", "cached"]);
    const original = first.steps.find((s) => s.name === "expensive")!;
    expect(second.steps.find((s) => s.name === "expensive")!.originalStepRunId).toBe(original.id);
    expect(second.steps[0].cacheKey).toBe(original.cacheKey);
  });

  it("a different parameter or input content misses", async () => {
    executions = 0;
    await cached.run({ x: 4 });
    expect(executions).toBe(2);
    // x = -4 gives the same input artifact content (16) to use_it: that step hits.
    await cached.run({ x: -4 });
    expect(executions).toBe(3);
  });

  it("enableCache: false on the run, the pipeline or the step turns it off", async () => {
    await cached.run({ x: 5 });
    executions = 0;
    await cached.run({ x: 5 }, { enableCache: false });
    expect(executions).toBe(2);

    const noCachePipeline = pipeline({ name: "no_cache_pipeline", enableCache: false }, function () {
      return useIt(expensiveStep(5));
    });
    executions = 0;
    await noCachePipeline.run();
    await noCachePipeline.run();
    expect(executions).toBe(4);

    const noCacheStep = expensiveStep.withOptions({ enableCache: false });
    const p = pipeline(function step_no_cache() {
      return useIt(noCacheStep(5));
    });
    executions = 0;
    await p.run();
    expect(executions).toBe(1); // expensive ran, use_it hit the cache (same input content)
  });

  it("caches dynamic and mapped step runs, and re-expands maps over a cached producer", async () => {
    let produced = 0;
    let mapped = 0;
    const items = step({ dynamicOutput: true }, function* cache_items(n: number) {
      produced += 1;
      for (let i = 0; i < n; i++) yield new DynamicOutput(i, { mappingKey: `i${i}` });
    });
    const inc = step(function cache_inc(x: number) {
      mapped += 1;
      return x + 1;
    });
    const p = pipeline({ name: "cached_dynamic", dynamic: true }, async () => {
      return items(3).map(inc).collect();
    });
    expect(await p()).toEqual([1, 2, 3]);
    const again = await p.run();
    expect(await again.output()).toEqual([1, 2, 3]);
    expect(produced).toBe(1);
    expect(mapped).toBe(3);
    expect(again.steps.every((s) => s.status === "cached")).toBe(true);
  });
});

describe("retries, timeouts and hooks", () => {
  it("retries with backoff and records every attempt", async () => {
    let calls = 0;
    const times: number[] = [];
    const flaky = step({ name: "flaky", retry: { maxRetries: 3, delayMs: 20, backoff: 2 }, enableCache: false }, () => {
      calls += 1;
      times.push(Date.now());
      if (calls < 3) throw new Error(`attempt ${calls} broke`);
      return getStepContext().attempt;
    });
    const p = pipeline(function retrying() {
      return flaky();
    });
    const run = await p.run();
    expect(run.status).toBe("completed");
    expect(await run.output()).toBe(3);
    expect(run.steps[0].attempts).toBe(3);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(35);
    const logs = await new Client().getLogs(run.id, "flaky");
    expect(logs.map((l) => l.message).filter((m) => m.includes("failed"))).toEqual([
      "attempt 1 failed: attempt 1 broke; retrying in 20 ms",
      "attempt 2 failed: attempt 2 broke; retrying in 40 ms",
    ]);
  });

  it("gives up after maxRetries with the last error and the attempt count", async () => {
    const broken = step({ name: "always_broken", retry: { maxRetries: 2 } }, () => {
      throw new Error("still broken");
    });
    const run = await pipeline(function give_up() {
      broken();
    }).run();
    expect(run.status).toBe("failed");
    expect(run.steps[0]).toMatchObject({ status: "failed", attempts: 3, error: "still broken" });
    expect(run.steps[0].metadata.attempts).toHaveLength(3);
  });

  it("times out an attempt, ignores its late result, and retries", async () => {
    let calls = 0;
    let lateFinished = false;
    const slow = step({ name: "slow_then_fast", timeoutMs: 50, retry: { maxRetries: 1 }, enableCache: false }, async () => {
      calls += 1;
      if (calls === 1) {
        await sleep(150);
        lateFinished = true;
        return "late";
      }
      return "fast";
    });
    const run = await pipeline(function timing_out() {
      return slow();
    }).run();
    expect(await run.output()).toBe("fast");
    expect(run.steps[0].attempts).toBe(2);
    await sleep(150);
    expect(lateFinished).toBe(true);
    const details = await new Client().getStepRun(run.id, "slow_then_fast");
    expect(details.outputs).toHaveLength(1);
    expect(await new Client().loadArtifact(details.outputs[0].artifact.id)).toBe("fast");
  });

  it("a timeout without retries fails the step with a timeout error", async () => {
    const stuck = step({ name: "stuck", timeoutMs: 30 }, () => new Promise(() => undefined));
    const run = await pipeline(function stuck_pipeline() {
      stuck();
    }).run();
    expect(run.steps[0].error).toMatch(/step "stuck" timed out after 30 ms/);
  });

  it("step hooks fire once per step run with the step context; a failing hook changes nothing", async () => {
    const calls: string[] = [];
    let attempts = 0;
    const hooked = step(
      {
        name: "hooked",
        retry: { maxRetries: 1 },
        enableCache: false,
        onSuccess: (ctx) => void calls.push(`success:${ctx.stepName}:${ctx.attempt}`),
        onFailure: () => void calls.push("failure"),
      },
      () => {
        attempts += 1;
        if (attempts === 1) throw new Error("first try fails");
        return 1;
      },
    );
    const failing = step(
      {
        name: "hooked_failing",
        onFailure: (ctx, error) => {
          calls.push(`failure:${ctx.stepName}:${error.message}`);
          throw new Error("hook itself broke");
        },
      },
      () => {
        throw new Error("step broke");
      },
    );
    const badHook = step({ name: "bad_success_hook", onSuccess: () => Promise.reject(new Error("hook failed")) }, () => 5);
    const run = await pipeline(function hooks_pipeline() {
      hooked();
      failing();
      return badHook();
    }).run();
    expect(calls.sort()).toEqual(["failure:hooked_failing:step broke", "success:hooked:2"]);
    const byName = Object.fromEntries(run.steps.map((s) => [s.name, s]));
    expect(byName.hooked_failing.status).toBe("failed");
    expect(byName.hooked_failing.error).toBe("step broke");
    expect(byName.bad_success_hook.status).toBe("completed");
    expect(byName.bad_success_hook.metadata.onSuccessError).toBe("hook failed");
  });
});
