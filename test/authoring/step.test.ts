import { describe, expect, it } from "vitest";
import { getStepContext, step, StepDefinitionError } from "weir";

describe("step definitions", () => {
  it("is its plain function outside a pipeline, sync or async", async () => {
    const loadData = step(function load_data(): { records: number } {
      return { records: 100 };
    });
    const double = step(async function double(x: number) {
      return x * 2;
    });
    expect(await loadData()).toEqual({ records: 100 });
    expect(await double(21)).toBe(42);
    expect(loadData.stepName).toBe("load_data");
  });

  it("takes its name from options, then the function", () => {
    const named = step({ name: "custom_name" }, () => 1);
    expect(named.stepName).toBe("custom_name");
  });

  it("rejects a step without a usable name", () => {
    expect(() => step(() => 1)).toThrow(StepDefinitionError);
    expect(() => step(() => 1)).toThrow(/needs a name/);
    expect(() => step({ name: "has space" }, () => 1)).toThrow(/"has space" is not usable/);
  });

  it.each([
    [{ cpuCount: -1 }, /step "bad": settings.resources.cpuCount must be a positive number/],
    [{ memory: "lots" }, /step "bad": settings.resources.memory must be a size with a unit/],
    [{ memory: 512 }, /step "bad": settings.resources.memory/],
    [{ gpuCount: 1.5 }, /step "bad": settings.resources.gpuCount must be a whole number/],
    [{ disk: "1GB" }, /step "bad": settings.resources.disk is not a resource setting/],
  ])("validates resources %j at definition time", (resources, message) => {
    expect(() => step({ name: "bad", settings: { resources: resources as never } }, () => 1)).toThrow(message);
  });

  it("parses memory units into bytes", () => {
    const s = step({ name: "mem", settings: { resources: { memory: "2GiB", cpuCount: 2 } } }, () => 1);
    expect(s.definition.resources).toEqual({ memory: "2GiB", memoryBytes: 2 * 2 ** 30, cpuCount: 2 });
    const t = step({ name: "mem2", settings: { resources: { memory: "512MB" } } }, () => 1);
    expect(t.definition.resources.memoryBytes).toBe(512e6);
  });

  it("validates retry, timeout, hooks and unknown options", () => {
    expect(() => step({ name: "r", retry: { maxRetries: -1 } }, () => 1)).toThrow(/step "r": retry.maxRetries/);
    expect(() => step({ name: "r", retry: { backoff: 0.5 } }, () => 1)).toThrow(/retry.backoff must be a number ≥ 1/);
    expect(() => step({ name: "t", timeoutMs: 0 }, () => 1)).toThrow(/step "t": timeoutMs must be a positive number/);
    expect(() => step({ name: "h", onSuccess: 3 as never }, () => 1)).toThrow(/step "h": onSuccess must be a function/);
    expect(() => step({ name: "o", retries: 3 } as never, () => 1)).toThrow(/step "o": unknown option "retries"/);
  });

  it("withOptions returns a new step with overrides and keeps the original", () => {
    const base = step({ name: "base", retry: { maxRetries: 1 }, settings: { resources: { cpuCount: 1 } } }, () => 1);
    const bigger = base.withOptions({ settings: { resources: { cpuCount: 4 } }, timeoutMs: 50 });
    expect(bigger.definition.resources.cpuCount).toBe(4);
    expect(bigger.definition.options.timeoutMs).toBe(50);
    expect(bigger.definition.options.retry).toEqual({ maxRetries: 1 });
    expect(base.definition.resources.cpuCount).toBe(1);
    expect(() => base.withOptions({ settings: { resources: { memory: "x" } } })).toThrow(/step "base": settings.resources.memory/);
  });

  it("getStepContext outside a running step is an error", () => {
    expect(() => getStepContext()).toThrow(/outside a running step/);
  });
});
