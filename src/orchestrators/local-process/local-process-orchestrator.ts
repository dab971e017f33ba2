import { availableParallelism, totalmem } from "node:os";
import { StackError } from "../../authoring/errors.js";
import { parseMemory } from "../../authoring/resources.js";
import { weirHome } from "../../config/home.js";
import type { StepLauncher } from "../../engine/launcher.js";
import type { Stack } from "../../stack/stack.js";
import type { OrchestratorConfig } from "../base.js";
import { LocalOrchestrator } from "../local/local-orchestrator.js";
import { ProcessLauncher } from "./process-launcher.js";
import type { Capacity } from "./resource-pool.js";

export interface LocalProcessOrchestratorConfig extends OrchestratorConfig {
  /** CPUs steps may reserve in total (default: `os.availableParallelism()`). */
  cpus?: number;
  /** Memory steps may reserve in total, e.g. "8GB" (default: `os.totalmem()`). */
  memory?: string;
  /** GPUs steps may reserve (default 0); step processes see theirs in CUDA_VISIBLE_DEVICES. */
  gpus?: number;
  /** Copy step output to this process's terminal as well (default true). */
  echoOutput?: boolean;
}

/**
 * The seed's Local Docker orchestrator with processes instead of containers: the engine
 * (and a dynamic pipeline's function) runs in the caller's process, like the local
 * orchestrator, and every step attempt runs in its own child process, admitted by its
 * resource settings and limited to its memory setting (V8 heap). Only the launcher differs
 * from the local orchestrator, so submission is inherited.
 */
export class LocalProcessOrchestrator extends LocalOrchestrator {
  override readonly flavor = "local_process";
  override readonly config: LocalProcessOrchestratorConfig;
  readonly capacity: Capacity;

  constructor(config: LocalProcessOrchestratorConfig = {}) {
    super(config);
    this.config = config;
    this.capacity = capacityOf(this.name, config);
  }

  override createLauncher(stack: Stack): StepLauncher {
    const store = stack.artifactStore;
    return new ProcessLauncher({
      orchestratorName: this.name,
      capacity: this.capacity,
      // The engine hands over at most this many attempts; admission by resources is the real gate.
      maxParallel: this.config.maxParallel ?? Math.max(1, Math.floor(this.capacity.cpus)),
      // A step process rebuilds the store from its flavor and config (stores/artifacts/resolve.ts).
      artifactStore: { flavor: store.flavor, name: store.name, root: store.root, config: store.config() },
      home: weirHome(),
      orchestratorRunId: (runId) => `${this.flavor}-${runId}`,
      echoOutput: this.config.echoOutput,
    });
  }
}

/** The capacity from the config, defaulting to this machine; invalid values name the orchestrator. */
function capacityOf(name: string, config: LocalProcessOrchestratorConfig): Capacity {
  const problem = (field: string, expected: string, got: unknown) =>
    new StackError(`orchestrator "${name}" (local_process): config "${field}" must be ${expected}, got ${JSON.stringify(got)}`);
  const { cpus = availableParallelism(), memory, gpus = 0, maxParallel } = config;
  if (typeof cpus !== "number" || !Number.isFinite(cpus) || cpus <= 0) throw problem("cpus", "a positive number", cpus);
  if (typeof gpus !== "number" || !Number.isInteger(gpus) || gpus < 0) throw problem("gpus", "a whole number ≥ 0", gpus);
  if (maxParallel !== undefined && (!Number.isInteger(maxParallel) || maxParallel < 1)) {
    throw problem("maxParallel", "a whole number ≥ 1", maxParallel);
  }
  let memoryBytes = totalmem();
  if (memory !== undefined) {
    const parsed = typeof memory === "string" ? parseMemory(memory) : undefined;
    if (parsed === undefined || parsed <= 0) throw problem("memory", 'a size with a unit like "8GB"', memory);
    memoryBytes = parsed;
  }
  // Device ids: the ones this process may use (CUDA_VISIBLE_DEVICES), else 0…gpus-1.
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(",").filter((id) => id.trim() !== "") ?? [];
  const gpuIds = Array.from({ length: gpus }, (_, i) => visible[i] ?? String(i));
  return { cpus, memoryBytes, gpuIds };
}
