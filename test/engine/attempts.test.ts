// The attempt rules on their own, without a graph or a store.
import { describe, expect, it } from "vitest";
import { StepTimeoutError, type StepContext } from "weir";
import { launchAttempt, RetrySchedule, runStepHook } from "../../src/engine/attempts.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask } from "../../src/engine/launcher.js";

const task = { invocationId: "t", attempt: 1 } as StepTask;
const hooks: AttemptHooks = {
  started: () => undefined,
  signal: new AbortController().signal,
  onItem: async () => undefined,
  onLog: () => undefined,
  loadArtifact: async () => undefined,
};

describe("attempts", () => {
  it("schedules retries with backoff until the policy is spent", () => {
    const schedule = new RetrySchedule({ maxRetries: 3, delayMs: 10, backoff: 3 });
    expect([schedule.next(), schedule.next(), schedule.next(), schedule.next()]).toEqual([10, 30, 90, undefined]);
    expect(new RetrySchedule(undefined).next()).toBeUndefined();
    expect(new RetrySchedule({ maxRetries: 2 }).next()).toBe(0);
  });

  it("stops retrying when the run is stopping", () => {
    const schedule = new RetrySchedule({ maxRetries: 5, delayMs: 1 });
    expect(schedule.next()).toBe(1);
    expect(schedule.next(true)).toBeUndefined();
  });

  it("times an attempt out from its start, not its launch, and aborts its signal", async () => {
    let signal: AbortSignal | undefined;
    const launcher: StepLauncher = {
      maxParallel: 1,
      async launch(_task: StepTask, h: AttemptHooks): Promise<AttemptResult> {
        signal = h.signal;
        await new Promise((resolve) => setTimeout(resolve, 80)); // waiting for resources
        h.started();
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { metadata: {} };
      },
    };
    const began = Date.now();
    const attempt = launchAttempt(launcher, task, hooks, 60);
    await expect(attempt).rejects.toThrow(StepTimeoutError);
    expect(Date.now() - began).toBeGreaterThanOrEqual(130);
    expect(signal?.aborted).toBe(true);
  });

  it("returns a failing hook's error instead of throwing it", async () => {
    const context = {} as StepContext;
    expect(await runStepHook(() => undefined, context)).toBeUndefined();
    const failed = await runStepHook(() => {
      throw new Error("hook broke");
    }, context);
    expect(failed?.error).toBe("hook broke");
    expect(failed?.stack).toMatch(/^Error: hook broke\n\s+at /);
  });
});
