import { availableParallelism, totalmem } from "node:os";
import { z } from "zod";
import { StackError } from "../../authoring/errors.js";
import { parseMemory } from "../../authoring/resources.js";
import { openMetadataStore, storeUrl, storeUrlOf } from "../../config/home.js";
import type { StepLauncher } from "../../engine/launcher.js";
import { checkComponentConfig } from "../../stack/config.js";
import { artifactStoreFlavorNames } from "../../stack/flavors.js";
import { artifactStoreComponent, type Stack } from "../../stack/stack.js";
import type { OrchestratorConfig } from "../base.js";
import type { MetadataStore } from "../../stores/metadata/types.js";
import { localConfigSchema, LocalOrchestrator } from "../local/local-orchestrator.js";
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

/** The `local_process` flavor's config: the local one's plus the capacity steps may reserve. */
export const localProcessConfigSchema = localConfigSchema.extend({
  cpus: z.number({ invalid_type_error: "must be a number" }).positive("must be a positive number").finite().optional(),
  memory: z
    .string({ invalid_type_error: 'must be a size with a unit like "8GB"' })
    .refine((text) => (parseMemory(text) ?? 0) > 0, 'must be a size with a unit like "8GB"')
    .optional(),
  gpus: z.number({ invalid_type_error: "must be a number" }).int("must be a whole number ≥ 0").min(0, "must be a whole number ≥ 0").optional(),
  echoOutput: z.boolean({ invalid_type_error: "must be true or false" }).optional(),
});

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
    if (new.target === LocalProcessOrchestrator) {
      checkComponentConfig(localProcessConfigSchema.strict(), config, `orchestrator "${this.name}" (local_process)`);
    }
    this.config = config;
    this.capacity = capacityOf(config);
  }

  override createLauncher(stack: Stack, runStore?: MetadataStore): StepLauncher {
    const store = stack.artifactStore;
    // A step process rebuilds the run's artifact store from its component row, by flavor.
    if (!artifactStoreFlavorNames().includes(store.flavor)) {
      throw new StackError(
        `orchestrator "${this.name}" (local_process) runs steps in child processes, which open the artifact store ` +
          `by its registered flavor (${artifactStoreFlavorNames().join(", ")}); stack "${stack.name}" uses "${store.flavor}"`,
      );
    }
    return new ProcessLauncher({
      orchestratorName: this.name,
      capacity: this.capacity,
      // The engine hands over at most this many attempts; admission by resources is the real gate.
      maxParallel: this.config.maxParallel ?? Math.max(1, Math.floor(this.capacity.cpus)),
      store: runStore ? () => Promise.resolve(runStore) : () => openMetadataStore(),
      storeUrl: runStore ? storeUrlOf(runStore) : storeUrl(),
      artifactStore: artifactStoreComponent(store),
      orchestratorRunId: (runId) => `${this.flavor}-${runId}`,
      echoOutput: this.config.echoOutput,
    });
  }
}

/** The capacity from the (checked) config, defaulting to this machine. */
function capacityOf(config: LocalProcessOrchestratorConfig): Capacity {
  const { cpus = availableParallelism(), memory, gpus = 0 } = config;
  const memoryBytes = memory === undefined ? totalmem() : parseMemory(memory)!;
  // Device ids: the ones this process may use (CUDA_VISIBLE_DEVICES), else 0…gpus-1.
  const visible = process.env.CUDA_VISIBLE_DEVICES?.split(",").filter((id) => id.trim() !== "") ?? [];
  const gpuIds = Array.from({ length: gpus }, (_, i) => visible[i] ?? String(i));
  return { cpus, memoryBytes, gpuIds };
}
