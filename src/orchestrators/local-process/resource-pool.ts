import type { ResourceSettings } from "../../authoring/resources.js";

/** What the machine (or the orchestrator's config) offers to step processes. */
export interface Capacity {
  cpus: number;
  memoryBytes: number;
  /** Device ids handed to steps through CUDA_VISIBLE_DEVICES, one per GPU. */
  gpuIds: string[];
}

/** What one step attempt reserves while its process runs. */
export interface ResourceRequest {
  cpus: number;
  memoryBytes: number;
  gpus: number;
}

/** A reservation in force: give it back with `release`. */
export interface Grant {
  request: ResourceRequest;
  gpuIds: string[];
}

/**
 * The request of a step's resource settings. Defaults: 1 CPU (or the whole capacity if it
 * is smaller), no memory reservation (a step without a `memory` setting is not limited and
 * does not hold back others: the usual "best effort" of container schedulers), 0 GPUs.
 */
export function requestOf(resources: ResourceSettings, capacity: Capacity): ResourceRequest {
  return {
    cpus: resources.cpuCount ?? Math.min(1, capacity.cpus),
    memoryBytes: resources.memoryBytes ?? 0,
    gpus: resources.gpuCount ?? 0,
  };
}

// CPU counts may be fractional (0.5): compare with a little slack for float sums.
const EPSILON = 1e-9;

interface Waiter {
  request: ResourceRequest;
  grant: (grant: Grant) => void;
}

/**
 * Resource-aware admission: a request is granted when it fits into what is free. Waiting
 * requests are served strictly first-in first-out, so a large step is not starved by a
 * stream of small ones that would always fit before it.
 */
export class ResourcePool {
  private freeCpus: number;
  private freeMemory: number;
  private readonly freeGpus: string[];
  private readonly waiting: Waiter[] = [];

  constructor(readonly capacity: Capacity) {
    this.freeCpus = capacity.cpus;
    this.freeMemory = capacity.memoryBytes;
    this.freeGpus = [...capacity.gpuIds];
  }

  /** Resolves once `request` is granted; rejects (and leaves the queue) when `signal` aborts first. */
  acquire(request: ResourceRequest, signal: AbortSignal): Promise<Grant> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.waiting.length === 0 && this.fits(request)) return Promise.resolve(this.take(request));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        request,
        grant: (grant) => {
          signal.removeEventListener("abort", onAbort);
          resolve(grant);
        },
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal.reason);
        // It may have been the head that blocked the others.
        this.serve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(grant: Grant): void {
    this.freeCpus += grant.request.cpus;
    this.freeMemory += grant.request.memoryBytes;
    this.freeGpus.push(...grant.gpuIds);
    this.serve();
  }

  /** How many requests are waiting (for tests and diagnostics). */
  get queued(): number {
    return this.waiting.length;
  }

  private serve(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].request)) {
      const waiter = this.waiting.shift()!;
      waiter.grant(this.take(waiter.request));
    }
  }

  private fits(request: ResourceRequest): boolean {
    return (
      request.cpus <= this.freeCpus + EPSILON &&
      request.memoryBytes <= this.freeMemory &&
      request.gpus <= this.freeGpus.length
    );
  }

  private take(request: ResourceRequest): Grant {
    this.freeCpus -= request.cpus;
    this.freeMemory -= request.memoryBytes;
    return { request, gpuIds: this.freeGpus.splice(0, request.gpus) };
  }
}
