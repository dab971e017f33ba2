import { availableParallelism, totalmem } from "node:os";
import { StackError } from "../../authoring/errors.js";
import { parseMemory, type ResourceSettings } from "../../authoring/resources.js";
import type { Capacity, ResourceRequest } from "../local-process/resource-pool.js";

/**
 * Resource classes: every distinct request (CPUs, memory, GPUs) has a BullMQ queue of its
 * own, and a worker takes jobs only from the queues of the requests it can give. So a job
 * is never taken by a worker that cannot run it, and a request no worker can give simply
 * waits in its queue.
 */
export function requestOfSettings(resources: ResourceSettings): ResourceRequest {
  return { cpus: resources.cpuCount ?? 1, memoryBytes: resources.memoryBytes ?? 0, gpus: resources.gpuCount ?? 0 };
}

export function classQueueName(request: ResourceRequest): string {
  return `steps.c${request.cpus}.m${request.memoryBytes}.g${request.gpus}`;
}

export function requestOfClass(queueName: string): ResourceRequest | undefined {
  const match = /^steps\.c([\d.]+)\.m(\d+)\.g(\d+)$/.exec(queueName);
  if (!match) return undefined;
  return { cpus: Number(match[1]), memoryBytes: Number(match[2]), gpus: Number(match[3]) };
}

export function fits(request: ResourceRequest, capacity: Capacity): boolean {
  return request.cpus <= capacity.cpus + 1e-9 && request.memoryBytes <= capacity.memoryBytes && request.gpus <= capacity.gpuIds.length;
}

/** `cpu=2, memory=1.0 GB, gpu=1` for messages. */
export function describeRequest(request: ResourceRequest): string {
  const parts = [`cpu=${request.cpus}`];
  if (request.memoryBytes > 0) parts.push(`memory=${formatBytes(request.memoryBytes)}`);
  if (request.gpus > 0) parts.push(`gpu=${request.gpus}`);
  return parts.join(",");
}

export function describeCapacity(capacity: Capacity): string {
  return `cpu=${capacity.cpus},memory=${formatBytes(capacity.memoryBytes)},gpu=${capacity.gpuIds.length}`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${+(bytes / 1e9).toFixed(1)}GB`;
  if (bytes >= 1e6) return `${+(bytes / 1e6).toFixed(1)}MB`;
  return `${bytes}B`;
}

/**
 * `--resources cpu=8,memory=32GB,gpu=1`: what a worker gives. Unset parts default to the
 * machine (all CPUs, all memory, no GPUs); GPU ids come from CUDA_VISIBLE_DEVICES when set.
 */
export function parseCapacity(text: string | undefined): Capacity {
  let cpus = availableParallelism();
  let memoryBytes = totalmem();
  let gpus = 0;
  for (const part of (text ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, value = ""] = part.split("=").map((s) => s.trim());
    const bad = (expected: string) => new StackError(`--resources: "${part}" must be ${expected}`);
    if (key === "cpu" || key === "cpus") {
      cpus = Number(value);
      if (!Number.isFinite(cpus) || cpus <= 0) throw bad("cpu=N with N > 0");
    } else if (key === "memory" || key === "mem") {
      const bytes = parseMemory(value);
      if (bytes === undefined || bytes <= 0) throw bad('memory=SIZE with a unit, like memory=32GB');
      memoryBytes = bytes;
    } else if (key === "gpu" || key === "gpus") {
      gpus = Number(value);
      if (!Number.isInteger(gpus) || gpus < 0) throw bad("gpu=N with a whole N ≥ 0");
    } else {
      throw new StackError(`--resources: unknown resource "${key}" in "${part}" (known: cpu, memory, gpu)`);
    }
  }
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(",").filter((id) => id.trim() !== "") ?? [];
  return { cpus, memoryBytes, gpuIds: Array.from({ length: gpus }, (_, i) => visible[i] ?? String(i)) };
}
