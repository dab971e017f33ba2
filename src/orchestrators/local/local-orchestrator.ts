import { executeStep, type ExecutionEnvironment } from "../../engine/executor.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask } from "../../engine/launcher.js";
import { lookupStep } from "../../authoring/step.js";
import { defaultMaterializers } from "../../materializers/registry.js";
import type { RunRecord, SnapshotRecord } from "../../stores/metadata/types.js";
import type { Stack } from "../../stack/stack.js";
import { checkComponentConfig } from "../../stack/config.js";
import { BaseOrchestrator, orchestrateOnStack, orchestratorConfigSchema, storeOfEnvironment, type OrchestratorConfig, type SubmissionResult } from "../base.js";

/** The `local` flavor's config (`maxParallel`, `name`). */
export const localConfigSchema = orchestratorConfigSchema;

let warnedAboutResources = false;

const DEFAULT_MAX_PARALLEL = 64;

/**
 * Runs everything in the caller's process: the engine, and each step as a function call.
 * Independent steps run concurrently (async steps overlap; sync steps take turns on the
 * event loop) up to `maxParallel`. Resource settings are recorded, not enforced.
 */
export class LocalOrchestrator extends BaseOrchestrator {
  override readonly flavor: string = "local";

  constructor(config: OrchestratorConfig = {}) {
    super(config);
    // Subclasses check their own (wider) schema.
    if (new.target === LocalOrchestrator) checkComponentConfig(localConfigSchema.strict(), config, `orchestrator "${this.name}" (local)`);
  }

  async submitPipeline(snapshot: SnapshotRecord, stack: Stack, environment: Record<string, string>, placeholderRun?: RunRecord) {
    return this.runHere(snapshot, stack, environment, placeholderRun);
  }

  override async submitDynamicPipeline(
    snapshot: SnapshotRecord,
    stack: Stack,
    environment: Record<string, string>,
    placeholderRun?: RunRecord,
  ): Promise<SubmissionResult | undefined> {
    return this.runHere(snapshot, stack, environment, placeholderRun);
  }

  private async runHere(snapshot: SnapshotRecord, stack: Stack, environment: Record<string, string>, run?: RunRecord) {
    if (!run) throw new Error(`orchestrator "${this.name}" needs the placeholder run of snapshot ${snapshot.id}`);
    await orchestrateOnStack({ runId: run.id, stack, orchestrator: this, store: await storeOfEnvironment(environment) });
    return undefined;
  }

  override createLauncher(stack: Stack): StepLauncher {
    // In-process steps mostly wait on I/O or are short: a wide bound keeps many in flight,
    // which also lets the store commit more writes per transaction (64 measured best; bench/README.md).
    const maxParallel = this.config.maxParallel ?? DEFAULT_MAX_PARALLEL;
    return new InProcessLauncher(stack, maxParallel);
  }
}

/** Launches a step attempt as a function call in this process. */
export class InProcessLauncher implements StepLauncher {
  private readonly env: Omit<ExecutionEnvironment, "loadArtifact">;

  constructor(
    stack: Stack,
    readonly maxParallel: number,
  ) {
    this.env = { artifacts: stack.artifactStore, materializers: defaultMaterializers() };
  }

  /** An attempt that does not wait (a synchronous step whose inputs are in memory) returns its result directly. */
  launch(task: StepTask, hooks: AttemptHooks): AttemptResult | Promise<AttemptResult> {
    // The engine in this process hands over the step it called; else it is found by name.
    const step = hooks.step ?? lookupStep(task.module, task.stepName, task.variant);
    if (!step) {
      throw new Error(`step "${task.stepName}" is not defined in this process (module ${task.module ?? "unknown"})`);
    }
    const resources = task.resources;
    if (!warnedAboutResources && (resources.cpuCount || resources.memory || resources.gpuCount)) {
      warnedAboutResources = true;
      hooks.onLog(
        "log",
        "note: the local orchestrator records resource settings but does not enforce them (use the local_process orchestrator)",
      );
    }
    hooks.started();
    return executeStep(step, task, hooks, this.env);
  }
}
