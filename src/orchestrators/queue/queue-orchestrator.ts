import { openMetadataStore } from "../../config/home.js";
import type { StepLauncher } from "../../engine/launcher.js";
import type { Stack } from "../../stack/stack.js";
import type { MetadataStore, RunRecord, SnapshotRecord } from "../../stores/metadata/types.js";
import { BaseOrchestrator, orchestrateOnStack, storeOfEnvironment, type OrchestratorConfig, type SubmissionResult } from "../base.js";
import { queueLibraries } from "./libraries.js";
import { parseQueueConfig, queueKeys, type QueueConfig, type QueueConfigInput } from "./config.js";
import { QueueLauncher } from "./queue-launcher.js";

export type QueueOrchestratorConfig = QueueConfigInput & OrchestratorConfig;

/** How often a client that follows a run orchestrated by a worker looks at it. */
const FOLLOW_POLL_MS = 250;

/**
 * Distributed execution on BullMQ and Redis: every step attempt is a job, run by a
 * `weir worker` on any machine that reaches Redis, the metadata store and the artifact
 * store. The run engine runs in the submitting process (`orchestrateIn: "client"`, as
 * with the local orchestrator) or is itself a job that a worker runs
 * (`orchestrateIn: "worker"`).
 */
export class QueueOrchestrator extends BaseOrchestrator {
  override readonly flavor = "queue";
  readonly queueConfig: QueueConfig;

  constructor(config: QueueOrchestratorConfig) {
    const parsed = parseQueueConfig(config, config?.name ?? "QueueOrchestrator");
    super(config);
    this.queueConfig = parsed;
  }

  submitPipeline(snapshot: SnapshotRecord, stack: Stack, environment: Record<string, string>, run?: RunRecord) {
    return this.submit(snapshot, stack, environment, run);
  }

  override submitDynamicPipeline(snapshot: SnapshotRecord, stack: Stack, environment: Record<string, string>, run?: RunRecord) {
    return this.submit(snapshot, stack, environment, run);
  }

  override createLauncher(_stack: Stack, store?: MetadataStore): StepLauncher {
    return new QueueLauncher(this.queueConfig, this.name, store);
  }

  private async submit(snapshot: SnapshotRecord, stack: Stack, environment: Record<string, string>, run?: RunRecord): Promise<SubmissionResult | undefined> {
    if (!run) throw new Error(`orchestrator "${this.name}" needs the placeholder run of snapshot ${snapshot.id}`);
    if (this.queueConfig.orchestrateIn === "worker") return this.submitToWorker(run);
    await orchestrateOnStack({ runId: run.id, stack, orchestrator: this, store: await storeOfEnvironment(environment) });
    return undefined;
  }

  /**
   * The orchestration of the run becomes a job; a worker runs it (and another one resumes
   * it if that worker dies). Unless WEIR_DETACH is set (`weir run --detach`), the caller
   * follows the run until it ends.
   */
  private async submitToWorker(run: RunRecord): Promise<SubmissionResult> {
    const { redisUrl, prefix } = this.queueConfig;
    const { Queue } = await queueLibraries();
    const queue = new Queue(queueKeys(prefix).orchestrateQueue, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
    try {
      await queue.add("orchestrate", { runId: run.id }, { jobId: `run.${run.id}`, attempts: 1, removeOnComplete: true, removeOnFail: true });
    } finally {
      await queue.close();
    }
    const metadata = { queue: { orchestrateIn: "worker", prefix } };
    if (process.env.WEIR_DETACH) return { metadata };
    return { metadata, waitForCompletion: () => followRun(run.id) };
  }
}

async function followRun(runId: string): Promise<void> {
  const store = await openMetadataStore();
  for (;;) {
    const run = await store.getRun(runId);
    if (!run || run.status === "completed" || run.status === "failed") return;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
  }
}
