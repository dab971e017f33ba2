// The attempt rules on their own, without a graph or a store.
import { describe, expect, it } from "vitest";
import { StepTimeoutError, type StepContext } from "weir";
import { launchAttempt, runStepHook, withRetries } from "../../src/engine/attempts.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask } from "../../src/engine/launcher.js";

const task = { invocationId: "t", attempt: 1 } as StepTask;
const hooks = { onItem: async () => undefined, onLog: () => undefined, loadArtifact: async () => undefined };

describe("attempts", () => {
  it("retries with backoff until one try succeeds, reporting each failure with the next delay", async () => {
    const failures: [string, number | undefined][] = [];
    const times: number[] = [];
    let calls = 0;
    const outcome = await withRetries(
      { maxRetries: 3, delayMs: 10, backoff: 3 },
      async () => {
        times.push(Date.now());
        calls += 1;
        if (calls < 3) throw new Error(`try ${calls}`);
        return calls;
      },
      (error, next) => failures.push([error.message, next?.delayMs]),
    );
    expect(outcome).toEqual({ value: 3 });
    expect(failures).toEqual([
      ["try 1", 10],
      ["try 2", 30],
    ]);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(25);
  });

  it("gives up when the policy is spent or stop() says so, with the last error", async () => {
    const failures: (number | undefined)[] = [];
    const spent = await withRetries({ maxRetries: 1 }, () => Promise.reject(new Error("no")), (_, next) => failures.push(next?.delayMs));
    expect(spent).toMatchObject({ error: { message: "no" } });
    expect(failures).toEqual([0, undefined]);
    let tries = 0;
    const stopped = await withRetries({ maxRetries: 5 }, () => Promise.reject(new Error(`stop ${++tries}`)), () => undefined, () => true);
    expect(stopped).toMatchObject({ error: { message: "stop 1" } });
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
    const attempt = launchAttempt(launcher, task, hooks, () => undefined, 60);
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
