import { z } from "zod";
import { OrchestratorNotSupportedError } from "../authoring/errors.js";
import { openMetadataStoreAt, storeUrl } from "../config/home.js";
import type { StepLauncher } from "../engine/launcher.js";
import { orchestratedRunId } from "../engine/run-context.js";
import { checkComponentConfig, componentName, positiveInteger } from "../stack/config.js";
import type { Stack } from "../stack/stack.js";
import type { MetadataStore, RunRecord, ScheduleRecord, SnapshotRecord } from "../stores/metadata/types.js";

/** What a submission gives back: how to wait for a run that goes on elsewhere. */
export interface SubmissionResult {
  waitForCompletion?: () => Promise<void>;
  metadata?: Record<string, unknown>;
}

export interface OrchestratorConfig {
  /** Component name; defaults to the class name. */
  name?: string;
  /** How many steps may run at once. */
  maxParallel?: number;
  [option: string]: unknown;
}

/** The config every orchestrator understands; flavors extend it (other keys pass through here). */
export const orchestratorConfigSchema = z.object({ name: componentName.optional(), maxParallel: positiveInteger.optional() });

/**
 * An orchestrator decides where a run's engine runs and how each step is launched.
 * Subclasses implement `submitPipeline` (static pipelines) and, when they can run the
 * pipeline function at run time, `submitDynamicPipeline`.
 */
export abstract class BaseOrchestrator {
  readonly name: string;
  readonly config: OrchestratorConfig;
  /** The flavor this orchestrator is registered under in stacks (`local`, `local_process`, …). */
  readonly flavor: string = "custom";

  constructor(config: OrchestratorConfig = {}) {
    this.name = typeof config?.name === "string" && config.name ? config.name : new.target.name;
    checkComponentConfig(orchestratorConfigSchema.passthrough(), config, `orchestrator "${this.name}"`);
    this.config = config;
  }

  /** Runs a static pipeline: the snapshot holds its whole graph. */
  abstract submitPipeline(
    snapshot: SnapshotRecord,
    stack: Stack,
    environment: Record<string, string>,
    placeholderRun?: RunRecord,
  ): Promise<SubmissionResult | undefined>;

  /** Runs a dynamic pipeline: launches the orchestration process that runs the pipeline function. */
  async submitDynamicPipeline(
    _snapshot: SnapshotRecord,
    _stack: Stack,
    _environment: Record<string, string>,
    _placeholderRun?: RunRecord,
  ): Promise<SubmissionResult | undefined> {
    throw new OrchestratorNotSupportedError(
      `orchestrator "${this.name}" does not support dynamic pipelines (it does not implement submitDynamicPipeline)`,
    );
  }

  /** True exactly when a subclass overrides submitDynamicPipeline. */
  get supportsDynamicPipelines(): boolean {
    return this.submitDynamicPipeline !== BaseOrchestrator.prototype.submitDynamicPipeline;
  }

  /**
   * Unique per run, and the same for every process of that run and across a restart of
   * its orchestration process: derived from the run id (or given to launched processes
   * through WEIR_ORCHESTRATOR_RUN_ID).
   */
  getOrchestratorRunId(): string {
    const fromEnv = process.env.WEIR_ORCHESTRATOR_RUN_ID;
    if (fromEnv) return fromEnv;
    const runId = orchestratedRunId();
    if (!runId) throw new Error(`orchestrator "${this.name}": getOrchestratorRunId() was called outside a run`);
    return `${this.flavor}-${runId}`;
  }

  /**
   * Native schedules. By default a schedule lives in the metadata store and `weir scheduler`
   * (or `weir server`) fires it, whatever the orchestrator. A backend with a scheduler of its
   * own (a Kubernetes CronJob, a cloud scheduler) overrides `scheduleNatively`: `p.schedule()`
   * and `weir schedule create` then hand it the stored schedule, record it as `native`, and
   * weir's scheduler leaves it alone. The backend fires each tick by starting
   * `weir run FILE --pipeline P --schedule NAME --scheduled-for TICK_MS` (plus the schedule's
   * `--param`s and `--stack`), so the run records its schedule like any other.
   * `unscheduleNatively` is called when the schedule is deleted.
   */
  async scheduleNatively(schedule: ScheduleRecord, _stack: Stack): Promise<void> {
    throw new OrchestratorNotSupportedError(`orchestrator "${this.name}" has no native schedules; schedule "${schedule.name}" is fired by weir's scheduler`);
  }

  async unscheduleNatively(_schedule: ScheduleRecord, _stack: Stack): Promise<void> {}

  /** True exactly when a subclass overrides scheduleNatively. */
  get supportsSchedules(): boolean {
    return this.scheduleNatively !== BaseOrchestrator.prototype.scheduleNatively;
  }

  /**
   * Launchers the engine uses for steps; orchestrators that run the engine here provide one.
   * `store` is the run's metadata store (a launcher whose steps run elsewhere hands them its URL).
   */
  createLauncher(_stack: Stack, _store?: MetadataStore): StepLauncher {
    throw new Error(`orchestrator "${this.name}" does not launch steps from this process`);
  }
}

/**
 * Drives a stored run in this process on a stack: the engine with the orchestrator's
 * launcher and the stack's artifact store. What every orchestration process does, whichever
 * orchestrator started it.
 */
export async function orchestrateOnStack(options: {
  runId: string;
  stack: Stack;
  store: MetadataStore;
  orchestrator?: BaseOrchestrator;
  resume?: boolean;
}): Promise<void> {
  const { stack } = options;
  const orchestrator = options.orchestrator ?? stack.orchestrator;
  // The engine is loaded when a run is driven: step processes import this module (through
  // weir's package entry) but never drive a run, and the engine is a good part of their boot.
  const { orchestrateRun } = await import("../engine/orchestrate.js");
  await orchestrateRun({
    runId: options.runId,
    store: options.store,
    artifacts: stack.artifactStore,
    launcher: orchestrator.createLauncher(stack, options.store),
    orchestratorRunId: () => orchestrator.getOrchestratorRunId(),
    resume: options.resume,
  });
}

/** The metadata store a submission's environment names by URL (WEIR_STORE_URL; else this process's default). */
export function storeOfEnvironment(environment: Record<string, string>): Promise<MetadataStore> {
  return openMetadataStoreAt(environment.WEIR_STORE_URL ?? storeUrl());
}

/** An orchestrator whose steps run in container images (Kubernetes, Docker, …). */
export abstract class ContainerizedOrchestrator extends BaseOrchestrator {
  /** The image a snapshot's steps and orchestration process run in. */
  getImage(snapshot: SnapshotRecord): string {
    const image = (this.config.image as string | undefined) ?? process.env.WEIR_IMAGE;
    if (!image) {
      throw new OrchestratorNotSupportedError(
        `orchestrator "${this.name}" needs an image for pipeline "${snapshot.pipelineName}": set its "image" config or WEIR_IMAGE`,
      );
    }
    return image;
  }
}
