import { describe, expect, it } from "vitest";
import { requestOf, ResourcePool, type Grant } from "../../src/orchestrators/local-process/resource-pool.js";

const never = new AbortController().signal;
const GB = 1e9;

describe("ResourcePool (local_process admission)", () => {
  it("grants what fits at once and queues the rest first-in first-out", async () => {
    const pool = new ResourcePool({ cpus: 2, memoryBytes: 4 * GB, gpuIds: [] });
    const order: string[] = [];
    const first = await pool.acquire({ cpus: 2, memoryBytes: 0, gpus: 0 }, never);
    const big = pool.acquire({ cpus: 2, memoryBytes: 0, gpus: 0 }, never).then((g) => (order.push("big"), g));
    // Fits alone, but waits behind the bigger request that came first (no starvation).
    const small = pool.acquire({ cpus: 1, memoryBytes: 0, gpus: 0 }, never).then((g) => (order.push("small"), g));
    expect(pool.queued).toBe(2);
    pool.release(first);
    const bigGrant = await big;
    expect(order).toEqual(["big"]);
    pool.release(bigGrant);
    pool.release(await small);
    expect(order).toEqual(["big", "small"]);
    expect(pool.queued).toBe(0);
  });

  it("counts memory and hands out distinct GPU ids", async () => {
    const pool = new ResourcePool({ cpus: 8, memoryBytes: 4 * GB, gpuIds: ["0", "1"] });
    const a = await pool.acquire({ cpus: 1, memoryBytes: 3 * GB, gpus: 1 }, never);
    let bGrant: Grant | undefined;
    const b = pool.acquire({ cpus: 1, memoryBytes: 2 * GB, gpus: 1 }, never).then((g) => (bGrant = g));
    await Promise.resolve();
    expect(bGrant).toBeUndefined(); // 3 GB + 2 GB > 4 GB
    pool.release(a);
    await b;
    expect(a.gpuIds).toEqual(["0"]);
    expect(bGrant!.gpuIds).toEqual(["1"]);
  });

  it("drops a waiting request when its signal aborts, and serves the next one", async () => {
    const pool = new ResourcePool({ cpus: 1, memoryBytes: GB, gpuIds: [] });
    const held = await pool.acquire({ cpus: 1, memoryBytes: 0, gpus: 0 }, never);
    const controller = new AbortController();
    const aborted = pool.acquire({ cpus: 1, memoryBytes: 0, gpus: 0 }, controller.signal);
    const next = pool.acquire({ cpus: 1, memoryBytes: 0, gpus: 0 }, never);
    controller.abort(new Error("timed out"));
    await expect(aborted).rejects.toThrow("timed out");
    expect(pool.queued).toBe(1);
    pool.release(held);
    await expect(next).resolves.toMatchObject({ request: { cpus: 1 } });
  });

  it("defaults a step's request to 1 CPU, no memory reservation and no GPU", () => {
    const capacity = { cpus: 4, memoryBytes: GB, gpuIds: [] };
    expect(requestOf({}, capacity)).toEqual({ cpus: 1, memoryBytes: 0, gpus: 0 });
    expect(requestOf({}, { ...capacity, cpus: 0.5 })).toEqual({ cpus: 0.5, memoryBytes: 0, gpus: 0 });
    expect(requestOf({ cpuCount: 2, memoryBytes: 5, gpuCount: 1 }, capacity)).toEqual({ cpus: 2, memoryBytes: 5, gpus: 1 });
  });
});
