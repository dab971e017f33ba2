import { describe, expect, it } from "vitest";
import { StackError } from "weir";
import { waitingReason } from "../../src/orchestrators/queue/queue-launcher.js";
import { classQueueName, parseCapacity, requestOfClass, requestOfSettings } from "../../src/orchestrators/queue/resources.js";
import type { WorkerInfo } from "../../src/orchestrators/queue/worker/registry.js";

const worker = (id: string, cpus: number, gpus = 0): WorkerInfo => ({
  id,
  host: "h",
  pid: 1,
  mode: "in-process",
  concurrency: 1,
  capacity: { cpus, memoryBytes: 8e9, gpuIds: Array.from({ length: gpus }, (_, i) => String(i)) },
  startedAt: 0,
  heartbeatAt: 0,
  current: [],
  orchestrating: [],
});

describe("queue resource classes", () => {
  it("names one queue per request and reads the request back", () => {
    const request = requestOfSettings({ cpuCount: 2, memory: "1GB", memoryBytes: 1e9, gpuCount: 1 });
    expect(classQueueName(request)).toBe("steps.c2.m1000000000.g1");
    expect(requestOfClass(classQueueName(request))).toEqual(request);
    expect(classQueueName(requestOfSettings({}))).toBe("steps.c1.m0.g0");
    expect(requestOfClass("orchestrate")).toBeUndefined();
  });

  it("parses --resources, defaulting to the machine, and names a bad part", () => {
    expect(parseCapacity("cpu=8,memory=32GB,gpu=2")).toMatchObject({ cpus: 8, memoryBytes: 32e9, gpuIds: ["0", "1"] });
    expect(parseCapacity(undefined).cpus).toBeGreaterThan(0);
    expect(() => parseCapacity("cpu=0")).toThrow(StackError);
    expect(() => parseCapacity("memory=lots")).toThrow('--resources: "memory=lots" must be memory=SIZE with a unit, like memory=32GB');
    expect(() => parseCapacity("tpu=1")).toThrow('unknown resource "tpu"');
  });

  it("says why an attempt waits: no worker at all, or none that can give it", () => {
    const request = requestOfSettings({ cpuCount: 4, gpuCount: 1 });
    expect(waitingReason(request, [])).toBe("waiting: no live worker (start one with `weir worker`); this step needs cpu=4,gpu=1");
    expect(waitingReason(request, [worker("a", 8), worker("b", 2, 1)])).toBe(
      "waiting: no live worker can give cpu=4,gpu=1 (live workers: a: cpu=8,memory=8GB,gpu=0; b: cpu=2,memory=8GB,gpu=1)",
    );
    expect(waitingReason(request, [worker("a", 8), worker("c", 4, 1)])).toBeUndefined();
  });
});
