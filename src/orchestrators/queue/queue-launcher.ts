import type { JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { errorMessage, WeirError } from "../../authoring/errors.js";
import { openMetadataStore } from "../../config/home.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask } from "../../engine/launcher.js";
import type { MetadataStore } from "../../stores/metadata/types.js";
import { listLiveWorkers, type WorkerInfo } from "./worker/registry.js";
import { reviveError } from "../local-process/protocol.js";
import type { ResourceRequest } from "../local-process/resource-pool.js";
import { eventsOf, type AttemptEvent } from "./channel.js";
import { attemptJobId, queueKeys, type QueueConfig } from "./config.js";
import { queueLibraries } from "./libraries.js";
import { classQueueName, describeCapacity, describeRequest, fits, requestOfSettings } from "./resources.js";

/** A job BullMQ gave up on (it was found abandoned more often than `maxStalledCount`). */
export class LostAttemptError extends WeirError {}

/** BullMQ job states of an attempt that is running or will run (`adopt` follows those). */
const ALIVE_JOB_STATES = new Set<string>(["active", "waiting", "delayed", "prioritized", "waiting-children"]);

/** How often the launcher looks at its waiting and running attempts (waiting reasons, lost jobs). */
const TICK_MS = 1_000;

interface Pending {
  task: StepTask;
  hooks: AttemptHooks;
  resolve(result: AttemptResult): void;
  reject(error: Error): void;
  queueName: string;
  request: ResourceRequest;
  /** The execution whose reports count (set by its `started`); earlier ones were lost. */
  execution?: string;
  worker?: string;
  /** How often the job had been found abandoned before that execution took it (BullMQ's stalled counter). */
  previous?: number;
  lost: { worker: string; detectedAt: number }[];
  /** Mapping keys already recorded: a re-run after a lost execution cannot map a key twice. */
  keys: Set<string>;
  /** The last "why it waits" logged and recorded, so it is logged again only when it changes. */
  waitingReason?: string;
  /** When the current execution's worker was first seen gone. */
  workerGoneAt?: number;
}

/**
 * Launches each step attempt as a BullMQ job that carries only `{ stepRunId, attempt }`
 * (the task is saved in the metadata store first), on the queue of the attempt's resource
 * class. Workers report on the run's Redis stream; this launcher reads it and hands
 * items, logs and the outcome to the engine.
 */
export class QueueLauncher implements StepLauncher {
  readonly maxParallel: number;
  private readonly keys: ReturnType<typeof queueKeys>;
  /** Set once the libraries are loaded (`ready`); nothing touches Redis before. */
  private redis!: Redis;
  private QueueClass!: typeof Queue;
  private readonly ready: Promise<void>;
  private reader: Redis | undefined;
  private readonly queues = new Map<string, Queue>();
  private readonly announced = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  /** The attempts (job ids) that each abort signal stops, and the listener that stops them. */
  private readonly watched = new WeakMap<AbortSignal, { jobs: Set<string>; onAbort: () => void }>();
  private readonly toEnqueue = new Map<string, { name: string; data: { stepRunId: string; attempt: number }; opts: JobsOptions }[]>();
  private flushing: Promise<void> | undefined;
  private readonly toReplay = new Set<string>();
  private replaying: Promise<void> | undefined;
  private runId: string | undefined;
  private reading: Promise<void> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;

  /** Where tasks are saved for the workers to read: the run's store (else this process's default). */
  private readonly store: Promise<MetadataStore>;

  constructor(
    private readonly config: QueueConfig,
    private readonly orchestratorName: string,
    store?: MetadataStore,
  ) {
    this.store = store ? Promise.resolve(store) : openMetadataStore();
    this.store.catch(() => undefined); // reported by the first launch that needs it
    this.maxParallel = config.maxParallel ?? 1_024;
    this.keys = queueKeys(config.prefix);
    this.ready = queueLibraries().then(({ Queue, Redis }) => {
      this.QueueClass = Queue;
      this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
      this.redis.on("error", () => undefined); // reconnects by itself; commands wait meanwhile
      let connectedBefore = false;
      this.redis.on("ready", () => {
        if (connectedBefore) void this.recheck().catch(() => undefined);
        connectedBefore = true;
      });
    });
  }

  launch(task: StepTask, hooks: AttemptHooks): Promise<AttemptResult> {
    if (hooks.signal.aborted) return Promise.reject(hooks.signal.reason);
    const request = requestOfSettings(task.resources);
    const queueName = classQueueName(request);
    const jobId = attemptJobId(task.stepRunId, task.attempt);
    return new Promise<AttemptResult>((resolve, reject) => {
      this.pending.set(jobId, { task, hooks, queueName, request, lost: [], keys: new Set(), resolve, reject });
      this.watch(hooks.signal, jobId);
      // The worker reads the task by step run id, so it is stored before the job exists.
      void this.saveAndEnqueue(queueName, jobId, task);
    });
  }

  private async saveAndEnqueue(queueName: string, jobId: string, task: StepTask): Promise<void> {
    try {
      await this.ready;
      this.follow(task.runId);
      await (await this.store).saveStepTask(task.stepRunId, task.attempt, task);
      this.enqueue(queueName, jobId, task);
    } catch (error) {
      this.settle(jobId, error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Resume: follows attempt `task.attempt` if its job is still in Redis (waiting for a worker,
   * or being run by one), so a step that outlived the run's earlier driver is not run twice.
   * A job Redis no longer has (it ended, or Redis lost it) is not alive: the engine launches
   * the next attempt. The job's earlier reports are read back from the run's stream.
   */
  async adopt(task: StepTask, hooks: AttemptHooks): Promise<AttemptResult | undefined> {
    if (hooks.signal.aborted) throw hooks.signal.reason;
    await this.ready;
    const request = requestOfSettings(task.resources);
    const queueName = classQueueName(request);
    const jobId = attemptJobId(task.stepRunId, task.attempt);
    const state = await this.queueOf(queueName).getJobState(jobId);
    if (!ALIVE_JOB_STATES.has(state)) return undefined;
    return new Promise<AttemptResult>((resolve, reject) => {
      this.pending.set(jobId, { task, hooks, queueName, request, lost: [], keys: new Set(), resolve, reject });
      this.watch(hooks.signal, jobId);
      this.follow(task.runId);
      this.replayHistory(jobId);
    });
  }

  /**
   * The reports an adopted job made before this launcher listened: the run's stream from its
   * start, once per turn for every job adopted in it. Events the read loop also delivers are
   * harmless twice (a known execution, a recorded key, a settled attempt), except that a log
   * line written while this history is read may be recorded twice.
   */
  private replayHistory(jobId: string): void {
    this.toReplay.add(jobId);
    this.replaying ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const jobs = new Set(this.toReplay);
      this.toReplay.clear();
      this.replaying = undefined;
      try {
        const entries = (await this.redis.xrange(this.keys.runEvents(this.runId!), "-", "+")) as [string, string[]][];
        for (const event of eventsOf(entries)) {
          if (jobs.has(attemptJobId(event.stepRunId, event.attempt))) await this.dispatch(event);
        }
      } catch (error) {
        const cause = new Error(`could not read the reports of an adopted attempt from Redis (${this.config.redisUrl}): ${errorMessage(error)}`);
        for (const id of jobs) this.settle(id, cause);
      }
    });
  }

  /**
   * One listener per signal: the engine gives every attempt without a timeout the same
   * never-aborting signal, and thousands of listeners on one target make adding one slow.
   * It is removed once none of its attempts is pending (else every run's launcher would
   * stay referenced from that process-wide signal).
   */
  private watch(signal: AbortSignal, jobId: string): void {
    let watch = this.watched.get(signal);
    if (!watch) {
      const jobs = new Set<string>();
      const onAbort = () => {
        for (const id of jobs) this.abandon(id, signal.reason ?? new Error("aborted"));
      };
      watch = { jobs, onAbort };
      this.watched.set(signal, watch);
      signal.addEventListener("abort", onAbort, { once: true });
    }
    watch.jobs.add(jobId);
  }

  private unwatch(signal: AbortSignal, jobId: string): void {
    const watch = this.watched.get(signal);
    if (!watch) return;
    watch.jobs.delete(jobId);
    if (watch.jobs.size > 0) return;
    signal.removeEventListener("abort", watch.onAbort);
    this.watched.delete(signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    for (const [jobId] of this.pending) this.abandon(jobId, new Error(`orchestrator "${this.orchestratorName}": the run ended`));
    await this.ready.catch(() => undefined);
    if (!this.redis) return;
    await this.flushing?.catch(() => undefined);
    this.reader?.disconnect();
    await this.reading?.catch(() => undefined);
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    if (this.runId) await this.redis.del(this.keys.runEvents(this.runId)).catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  // ---- enqueueing: jobs of one event-loop turn go to Redis in one addBulk per queue ----------

  private enqueue(queueName: string, jobId: string, task: StepTask): void {
    if (!this.pending.has(jobId)) return; // abandoned meanwhile
    let batch = this.toEnqueue.get(queueName);
    if (!batch) this.toEnqueue.set(queueName, (batch = []));
    batch.push({
      name: task.invocationId,
      data: { stepRunId: task.stepRunId, attempt: task.attempt },
      // Retries are the engine's (each is a new attempt, a new job); BullMQ only re-runs a
      // job whose worker died. Finished jobs are not kept: the outcome is on the stream.
      opts: { jobId, attempts: 1, removeOnComplete: true, removeOnFail: true },
    });
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  private async flush(): Promise<void> {
    while (this.toEnqueue.size > 0) {
      const batches = [...this.toEnqueue];
      this.toEnqueue.clear();
      await Promise.all(
        batches.map(async ([queueName, jobs]) => {
          try {
            if (!this.announced.has(queueName)) {
              // Workers open the queues of the classes they can give as they appear.
              await this.redis.sadd(this.keys.classes, queueName);
              await this.redis.publish(this.keys.classes, queueName);
              this.announced.add(queueName);
            }
            await this.queueOf(queueName).addBulk(jobs);
          } catch (error) {
            const cause = new Error(`could not enqueue on Redis (${this.config.redisUrl}): ${errorMessage(error)}`);
            for (const job of jobs) this.settle(job.opts.jobId!, cause);
          }
        }),
      );
    }
    this.flushing = undefined;
  }

  private queueOf(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new this.QueueClass(name, { connection: { url: this.config.redisUrl, maxRetriesPerRequest: null }, prefix: this.config.prefix });
      queue.on("error", () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  // ---- reports from workers: the run's stream -------------------------------------------------

  private follow(runId: string): void {
    if (this.runId === runId) return;
    if (this.runId !== undefined) throw new Error(`a queue launcher serves one run (${this.runId}), not also ${runId}`);
    this.runId = runId;
    this.reader = this.redis.duplicate();
    this.reader.on("error", () => undefined);
    this.reading = this.readLoop(this.keys.runEvents(runId));
    this.ticker = setInterval(() => void this.tick().catch(() => undefined), TICK_MS);
    this.ticker.unref();
  }

  private async readLoop(streamKey: string): Promise<void> {
    // From the start of the stream: nothing a worker wrote before the first read is missed.
    let lastId = "0";
    while (!this.closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader!.xread("COUNT", 1_000, "BLOCK", 1_000, "STREAMS", streamKey, lastId)) as typeof reply;
      } catch {
        if (this.closed) return;
        await sleep(200);
        continue;
      }
      if (!reply) continue;
      const entries = reply[0][1];
      lastId = entries[entries.length - 1][0];
      for (const event of eventsOf(entries)) await this.dispatch(event);
    }
  }

  private async dispatch(event: AttemptEvent): Promise<void> {
    const jobId = attemptJobId(event.stepRunId, event.attempt);
    const p = this.pending.get(jobId);
    if (!p) return; // an attempt that ended (timed out, superseded, finished): late news is ignored
    if (event.type === "started") {
      if (p.execution === undefined) {
        p.execution = event.execution;
        p.worker = event.worker;
        p.previous = event.previous;
        if (event.previous > 0) p.lost.push({ worker: "unknown", detectedAt: Date.now() });
        stopWaiting(p);
        p.hooks.started();
      } else if (p.execution !== event.execution && event.previous > p.previous!) {
        // BullMQ gave the job to another worker: the one we heard from was lost. (Starts
        // are reported lazily, so a superseded execution's may come late: its counter is lower.)
        p.lost.push({ worker: p.worker!, detectedAt: Date.now() });
        p.hooks.onLog("log", `attempt ${event.attempt} was lost on worker ${p.worker} (it stopped renewing its job); running it again on worker ${event.worker}`);
        p.execution = event.execution;
        p.worker = event.worker;
        p.previous = event.previous;
        p.workerGoneAt = undefined;
      } else if (p.execution !== event.execution) {
        // The late start of an execution already superseded: now we know whose it was.
        const unknown = p.lost.find((l) => l.worker === "unknown");
        if (unknown) unknown.worker = event.worker;
      }
      return;
    }
    if (event.execution !== p.execution) return; // from a superseded execution
    switch (event.type) {
      case "log":
        p.hooks.onLog(event.stream, event.message);
        return;
      case "item": {
        const key = event.item.mappingKey ?? "";
        if (p.keys.has(key)) return; // already recorded from a lost execution
        p.keys.add(key);
        try {
          await p.hooks.onItem(event.item);
        } catch (error) {
          this.settle(jobId, error instanceof Error ? error : new Error(String(error)));
        }
        return;
      }
      case "result": {
        const queue: Record<string, unknown> = { worker: p.worker };
        if (p.lost.length > 0) queue.lostExecutions = p.lost;
        this.settle(jobId, undefined, { ...event.result, metadata: { ...event.result.metadata, queue } });
        return;
      }
      case "error":
        this.settle(jobId, reviveError(event.error));
        return;
    }
  }

  private settle(jobId: string, error: Error | undefined, result?: AttemptResult): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    this.pending.delete(jobId);
    this.unwatch(p.hooks.signal, jobId);
    stopWaiting(p); // a run torn down while the attempt waited: the reason no longer holds
    if (error) p.reject(error);
    else p.resolve(result!);
  }

  /** Timeout or teardown: the attempt is given up; its worker is asked to stop it. */
  private abandon(jobId: string, reason: unknown): void {
    const p = this.pending.get(jobId);
    if (!p) return;
    this.settle(jobId, reason instanceof Error ? reason : new Error(String(reason)));
    if (!this.redis) return; // not even enqueued yet
    this.redis.publish(this.keys.cancel, jobId).catch(() => undefined);
    // Still waiting for a worker: it need not run at all (a job being run is locked; that fails quietly).
    this.queueOf(p.queueName)
      .remove(jobId)
      .catch(() => undefined);
  }

  /**
   * After a reconnection Redis may have lost its data (a restart without persistence): jobs
   * that were still waiting are enqueued again, and resource classes announced again.
   * Attempts already started go on; their worker's reports reach the new stream.
   */
  private async recheck(): Promise<void> {
    this.announced.clear();
    for (const [jobId, p] of this.pending) {
      if (p.execution !== undefined || [...this.toEnqueue.values()].some((jobs) => jobs.some((j) => j.opts.jobId === jobId))) continue;
      const state = await this.queueOf(p.queueName).getJobState(jobId);
      if (state !== "unknown" || !this.pending.has(jobId) || p.execution !== undefined) continue;
      p.hooks.onLog("log", `Redis no longer has the job of attempt ${p.task.attempt} (was it restarted?); enqueued it again`);
      this.enqueue(p.queueName, jobId, p.task);
    }
  }

  // ---- the periodic look: why attempts wait, and attempts whose worker died ---------------------

  private async tick(): Promise<void> {
    if (this.pending.size === 0) return;
    const workers = await listLiveWorkers(this.redis, this.config.prefix);
    const live = new Set(workers.map((w) => w.id));
    const now = Date.now();
    const giveUpAfter = this.config.lockDurationMs + 3 * this.config.stalledIntervalMs;
    // One answer per resource class: a fan-out has thousands of waiting attempts of one class.
    const reasons = new Map<string, string | undefined>();
    for (const [jobId, p] of this.pending) {
      if (p.execution === undefined) {
        if (!reasons.has(p.queueName)) reasons.set(p.queueName, waitingReason(p.request, workers));
        const reason = reasons.get(p.queueName);
        if (reason !== p.waitingReason) {
          if (reason !== undefined) p.hooks.onLog("log", reason);
          p.hooks.onWaiting?.(reason);
        }
        p.waitingReason = reason;
        continue;
      }
      if (live.has(p.worker!)) {
        p.workerGoneAt = undefined;
        continue;
      }
      p.workerGoneAt ??= now;
      // BullMQ normally hands the job to another worker; if it gave up instead, say so.
      if (now - p.workerGoneAt < giveUpAfter) continue;
      const state = await this.queueOf(p.queueName).getJobState(jobId);
      if (state === "failed" || state === "unknown" || state === "completed") {
        this.settle(
          jobId,
          new LostAttemptError(
            `step "${p.task.invocationId}": attempt ${p.task.attempt} was lost with worker ${p.worker} and not run again (job state: ${state})`,
          ),
        );
      }
    }
  }
}

/** Why an attempt of this request is not running: nobody live can give it (undefined: someone can). */
export function waitingReason(request: ResourceRequest, workers: WorkerInfo[]): string | undefined {
  if (workers.some((w) => fits(request, w.capacity))) return undefined;
  if (workers.length === 0) return `waiting: no live worker (start one with \`weir worker\`); this step needs ${describeRequest(request)}`;
  const offers = workers.map((w) => `${w.id}: ${describeCapacity(w.capacity)}`).join("; ");
  return `waiting: no live worker can give ${describeRequest(request)} (live workers: ${offers})`;
}

/** The attempt started or ended: a recorded waiting reason no longer holds. */
function stopWaiting(p: Pending): void {
  if (p.waitingReason !== undefined) p.hooks.onWaiting?.(undefined);
  p.waitingReason = undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
