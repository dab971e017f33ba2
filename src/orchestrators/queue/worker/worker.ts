import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { errorMessage, StackError } from "../../../authoring/errors.js";
import { lookupStep } from "../../../authoring/step.js";
import { openMetadataStoreAt, storeUrl } from "../../../config/home.js";
import { executeStep, loadStoredArtifact, type ExecutionEnvironment } from "../../../engine/executor.js";
import type { AttemptHooks, AttemptResult, StepTask } from "../../../engine/launcher.js";
import { HEARTBEAT_MS, isAlive } from "../../../stores/metadata/liveness.js";
import { orchestrateOnStack } from "../../base.js";
import { artifactStoreComponent } from "../../../stack/stack.js";
import { defaultMaterializers } from "../../../materializers/registry.js";
import { ProcessLauncher } from "../../local-process/process-launcher.js";
import { requestOf, ResourcePool, type Capacity } from "../../local-process/resource-pool.js";
import { AttemptChannel, ReportOutbox } from "../channel.js";
import { coalesceWrites } from "../coalesced-writes.js";
import { attemptJobId, queueKeys, type QueueConfig } from "../config.js";
import { QueueOrchestrator } from "../queue-orchestrator.js";
import { fits, requestOfClass } from "../resources.js";
import { resolveStack, type Stack } from "../../../stack/stack.js";
import type { ArtifactStore } from "../../../stores/artifacts/types.js";
import type { MetadataStore } from "../../../stores/metadata/types.js";
import { publishHeartbeat, removeHeartbeat, type WorkerInfo } from "./registry.js";

export type WorkerMode = "in-process" | "process";

export interface QueueWorkerOptions {
  /** A stack whose orchestrator is a queue orchestrator: where the queues are. */
  stack: Stack;
  capacity: Capacity;
  /** How many attempts of one resource class it takes at once (default: its CPUs). */
  concurrency?: number;
  /** Run attempts as function calls here, or each in a step process of its own. */
  mode?: WorkerMode;
  /** How many runs' orchestration it takes at once (orchestrateIn: "worker"). */
  orchestrations?: number;
  id?: string;
  /** Copy step output to this process's terminal (process mode). */
  echoOutput?: boolean;
}

/** A run's lease is stale when its driver has not beaten for this long. */
const LEASE_STALE_MS = 3 * HEARTBEAT_MS;
/** How often a worker looks for new resource classes (besides being told on pub/sub). */
const CLASS_POLL_MS = 2_000;

/**
 * `weir worker`: takes step attempts from the queues of the resource classes it can give
 * (and orchestration jobs), runs them, writes artifacts to the run's artifact store and
 * reports everything else on the run's Redis stream. It never writes run or step-run rows
 * for step attempts: the engine records what it reports.
 */
export class QueueWorker {
  readonly id: string;
  readonly mode: WorkerMode;
  readonly concurrency: number;
  private readonly config: QueueConfig;
  private readonly keys: ReturnType<typeof queueKeys>;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  /** BullMQ's commands for the jobs of every queue this worker serves, a turn's in one write. */
  private readonly jobConnection: Redis;
  /** Every attempt's reports, batched per turn of the event loop. */
  private readonly outbox: ReportOutbox;
  private readonly pool: ResourcePool;
  private readonly workers = new Map<string, Worker>();
  private readonly running = new Map<string, { controller: AbortController; info: WorkerInfo["current"][number] }>();
  private readonly orchestrating = new Set<string>();
  /** The stack of each recent run, by run id. */
  private readonly stacks = new Map<string, Promise<Stack>>();
  private readonly processLaunchers = new Map<string, ProcessLauncher>();
  private readonly startedAt = Date.now();
  /** The metadata store's URL, read once: a worker takes thousands of jobs a second. */
  private readonly storeUrl = storeUrl();
  /**
   * Execution ids: this process's nonce (a worker restarted with the same `--id` must not
   * repeat one) and a counter.
   */
  private readonly executionPrefix = `${randomBytes(4).toString("hex")}.`;
  private executions = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private classPoll: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly options: QueueWorkerOptions) {
    const orchestrator = options.stack.orchestrator;
    if (!(orchestrator instanceof QueueOrchestrator)) {
      throw new StackError(`weir worker needs a stack whose orchestrator has the "queue" flavor; stack "${options.stack.name}" uses "${orchestrator.flavor}"`);
    }
    this.config = orchestrator.queueConfig;
    this.keys = queueKeys(this.config.prefix);
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
    this.mode = options.mode ?? "in-process";
    this.concurrency = options.concurrency ?? Math.max(1, Math.floor(options.capacity.cpus));
    this.pool = new ResourcePool(options.capacity);
    this.redis = new Redis(this.config.redisUrl, { maxRetriesPerRequest: null });
    this.redis.on("error", () => undefined);
    this.outbox = new ReportOutbox(this.redis);
    this.jobConnection = coalesceWrites(new Redis(this.config.redisUrl, { maxRetriesPerRequest: null }));
    this.jobConnection.on("error", () => undefined);
    this.subscriber = this.redis.duplicate();
    this.subscriber.on("error", () => undefined);
  }

  async start(): Promise<void> {
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), this.config.heartbeatMs);
    // A timed-out attempt is cancelled; a new resource class gets its queue opened now.
    this.subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.keys.cancel) this.running.get(message)?.controller.abort(new Error("cancelled by the engine"));
      else if (channel === this.keys.classes) this.openClass(message);
    });
    await this.subscriber.subscribe(this.keys.cancel, this.keys.classes);
    await this.openClasses();
    this.classPoll = setInterval(() => void this.openClasses().catch(() => undefined), CLASS_POLL_MS);
    const orchestrate = new Worker(this.keys.orchestrateQueue, (job) => this.orchestrate(job), {
      ...this.workerOptions(),
      concurrency: this.options.orchestrations ?? 4,
    });
    orchestrate.on("error", () => undefined);
    this.workers.set(this.keys.orchestrateQueue, orchestrate);
  }

  /** Stops taking jobs, waits for the running ones (unless `force`), and leaves. */
  async stop(force = false): Promise<void> {
    this.stopping = true;
    clearInterval(this.classPoll);
    if (force) for (const { controller } of this.running.values()) controller.abort(new Error("the worker is stopping"));
    await Promise.all([...this.workers.values()].map((w) => w.close(force).catch(() => undefined)));
    clearInterval(this.heartbeat);
    for (const launcher of this.processLaunchers.values()) await launcher.close();
    await removeHeartbeat(this.redis, this.config.prefix, this.id).catch(() => undefined);
    this.subscriber.disconnect();
    // Shared connections are the owner's to close (BullMQ closes only the ones it made).
    await this.jobConnection.quit().catch(() => this.jobConnection.disconnect());
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  info(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      mode: this.mode,
      concurrency: this.concurrency,
      capacity: this.options.capacity,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      current: [...this.running.values()].map((r) => r.info),
      orchestrating: [...this.orchestrating],
    };
  }

  private beat(): Promise<void> {
    return publishHeartbeat(this.redis, this.config.prefix, this.info(), this.config.heartbeatMs);
  }

  private workerOptions() {
    return {
      // One connection for every queue's commands (BullMQ gives each Worker its own blocking one).
      connection: this.jobConnection,
      prefix: this.config.prefix,
      lockDuration: this.config.lockDurationMs,
      stalledInterval: this.config.stalledIntervalMs,
      maxStalledCount: this.config.maxStalledCount,
      // Jobs are removed when done: the outcome travels on the run's stream.
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    };
  }

  // ---- resource classes -------------------------------------------------------------------

  private async openClasses(): Promise<void> {
    for (const name of await this.redis.smembers(this.keys.classes)) this.openClass(name);
  }

  /** Opens the queue of a resource class if this worker can give it. */
  private openClass(queueName: string): void {
    if (this.stopping || this.workers.has(queueName)) return;
    const request = requestOfClass(queueName);
    if (!request || !fits(request, this.options.capacity)) return;
    const worker = new Worker(queueName, (job) => this.runAttempt(job), { ...this.workerOptions(), concurrency: this.concurrency });
    worker.on("error", () => undefined);
    this.workers.set(queueName, worker);
  }

  // ---- step attempts ------------------------------------------------------------------------

  private async runAttempt(job: Job<{ stepRunId: string; attempt: number }>): Promise<void> {
    const { stepRunId, attempt } = job.data;
    const store = await openMetadataStoreAt(this.storeUrl);
    const saved = await store.getStepTask(stepRunId);
    // The engine moved on to a later attempt (or the run is gone): nothing to do.
    if (!saved || saved.attempt !== attempt) return;
    const task = saved.task as StepTask;
    const jobId = attemptJobId(stepRunId, attempt);
    const execution = `${this.id}.${this.executionPrefix}${++this.executions}`;
    const channel = new AttemptChannel(this.outbox, this.keys.runEvents(task.runId), { stepRunId, attempt, execution }, this.config.startedDelayMs);
    const controller = new AbortController();
    this.running.set(jobId, { controller, info: { runId: task.runId, stepRunId, attempt, invocationId: task.invocationId } });
    try {
      const artifacts = (await this.stackOf(store, task.runId)).artifactStore;
      const env: ExecutionEnvironment = {
        artifacts,
        materializers: defaultMaterializers(),
        loadArtifact: (ref) => loadStoredArtifact(ref, env),
      };
      const hooks: AttemptHooks = {
        // The start may ride with the result, except when the engine must hear of it at once:
        // its timeout counts from it, or this execution supersedes one found abandoned
        // (whose late result must then be recognised as stale).
        started: () => {
          const previous = job.stalledCounter ?? 0;
          void channel.started(this.id, previous, task.timeoutMs !== undefined || previous > 0).catch(() => undefined);
        },
        signal: controller.signal,
        onItem: (item) => channel.item(item),
        onLog: (stream, message) => channel.log(stream, message),
        loadArtifact: env.loadArtifact,
      };
      const grant = await this.pool.acquire(requestOf(task.resources, this.options.capacity), controller.signal);
      let result: AttemptResult;
      try {
        result = this.mode === "process" ? await this.processLauncherOf(artifacts).launch(task, hooks) : await runHere(task, hooks, env);
      } finally {
        this.pool.release(grant);
      }
      if (!controller.signal.aborted) await channel.result(result);
    } catch (error) {
      if (!controller.signal.aborted) await channel.error(error);
    } finally {
      this.running.delete(jobId);
    }
  }

  /** The stack a run was submitted on (its artifact store is where the step's values live). */
  private stackOf(store: MetadataStore, runId: string): Promise<Stack> {
    let stack = this.stacks.get(runId);
    if (!stack) {
      stack = store.getRun(runId).then((run) => {
        if (!run) throw new Error(`no run with id "${runId}" in the metadata store this worker uses`);
        return resolveStack(store, run.stackName);
      });
      this.stacks.set(runId, stack);
      stack.catch(() => this.stacks.delete(runId));
      // A worker serves runs for days: keep only the recent ones.
      if (this.stacks.size > 100) this.stacks.delete(this.stacks.keys().next().value!);
    }
    return stack;
  }

  private processLauncherOf(artifacts: ArtifactStore): ProcessLauncher {
    let launcher = this.processLaunchers.get(artifacts.root);
    if (!launcher) {
      // Admission is this worker's pool; the launcher's own pool (same capacity) never holds a step back.
      launcher = new ProcessLauncher({
        orchestratorName: `worker ${this.id}`,
        capacity: this.options.capacity,
        maxParallel: this.concurrency,
        // Step processes rebuild the store from its component record, whatever its flavor.
        artifactStore: artifactStoreComponent(artifacts),
        store: () => openMetadataStoreAt(this.storeUrl),
        storeUrl: this.storeUrl,
        orchestratorRunId: (runId) => `queue-${runId}`,
        echoOutput: this.options.echoOutput ?? false,
      });
      this.processLaunchers.set(artifacts.root, launcher);
    }
    return launcher;
  }

  // ---- orchestration jobs -----------------------------------------------------------------

  /**
   * Runs the orchestration of a run: claims its lease (waiting while another live process
   * holds it), then drives it with `resume`, so a replacement for a dead orchestrator
   * answers finished step runs from the record and runs only the rest.
   */
  private async orchestrate(job: Job<{ runId: string }>): Promise<void> {
    const { runId } = job.data;
    const store = await openMetadataStoreAt(this.storeUrl);
    const owner = `${hostname()}:${process.pid}`;
    for (;;) {
      const run = await store.getRun(runId);
      if (!run || run.status === "completed" || run.status === "failed") return;
      if (await claim(store, runId, owner, run)) break;
      if (this.stopping) throw new Error(`worker ${this.id} is stopping`);
      await sleep(HEARTBEAT_MS);
    }
    this.orchestrating.add(runId);
    try {
      const run = (await store.getRun(runId))!;
      const stack = await resolveStack(store, run.stackName);
      await orchestrateOnStack({ runId, stack, store, resume: true });
    } catch (error) {
      await store.updateRun(runId, { status: "failed", error: errorMessage(error), endedAt: Date.now() });
    } finally {
      this.orchestrating.delete(runId);
    }
  }
}

/** The run's lease: the store's compare-and-set when it has one, else the liveness of the recorded owner. */
async function claim(store: MetadataStore, runId: string, owner: string, run: Awaited<ReturnType<MetadataStore["getRun"]>>): Promise<boolean> {
  const withLease = store as MetadataStore & { claimRun?: (runId: string, owner: string, staleBeforeMs: number) => Promise<boolean> };
  if (typeof withLease.claimRun === "function") return withLease.claimRun(runId, owner, Date.now() - LEASE_STALE_MS);
  return !run!.owner || run!.owner === owner || !isAlive(run!);
}

/** One attempt as a function call in this process (the module is imported on first use). */
async function runHere(task: StepTask, hooks: AttemptHooks, env: ExecutionEnvironment): Promise<AttemptResult> {
  if (!task.module) {
    throw new Error(`step "${task.invocationId}": the module that defines step "${task.stepName}" is unknown, so a worker cannot import it`);
  }
  let step = lookupStep(task.module, task.stepName);
  // Import once: a dynamic import goes through the module loader (and its hooks) every time.
  if (!step) {
    await import(pathToFileURL(task.module).href);
    step = lookupStep(task.module, task.stepName);
  }
  if (!step) throw new Error(`step "${task.stepName}" is not defined by ${task.module}`);
  hooks.started();
  return executeStep(step, task, hooks, env);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
