import { createHash } from "node:crypto";
import { runInPipelineScope, type PipelineScope, type StepContext } from "../authoring/context.js";
import {
  errorMessage,
  MapInputError,
  ResourceRequestError,
  StepFailedError,
  UpstreamFailedError,
} from "../authoring/errors.js";
import { Handle, isHandle, settle, type CallOptions, type GraphBuilder } from "../authoring/handles.js";
import { isStep, type StepDefinition } from "../authoring/step.js";
import type { MaterializerRegistry } from "../materializers/registry.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { LogLine, MetadataStore, NewStepRun, StepRunRecord } from "../stores/metadata/types.js";
import { encodeArgs, jsonProblem, parametersOf, refsOf } from "./args.js";
import { timeOrderedId } from "../ids.js";
import { cacheKeyOf } from "./cache-key.js";
import { materialize, metadataOfFailure } from "./executor.js";
import { artifactRefOf, type ArtifactRef, type AttemptHooks, type AttemptResult, type ProducedArtifact, type StepLauncher, type StepTask } from "./launcher.js";
import { childPath, newExpansion, StepNamer } from "./naming.js";
import { adoptAttempt, launchAttempt, NEVER_ABORTED, RetrySchedule, runStepHook, sleep } from "./attempts.js";
import { findCacheHit } from "./cache.js";
import { RunRecorder } from "./recorder.js";
import { Replay, type RecordedStepRun } from "./replay.js";
import { MapGroup, Node, RunGraph, type FinalStatus, type MapResult, type Waitable } from "./graph.js";
import { ValueResolver } from "./refs.js";

export type { RecordedStepRun } from "./replay.js";

export interface EngineOptions {
  runId: string;
  pipelineName: string;
  isDynamic: boolean;
  enableCache: boolean;
  store: MetadataStore;
  artifacts: ArtifactStore;
  /** The stack component of `artifacts`, recorded on every artifact version the run makes. */
  artifactStoreId?: string | null;
  materializers: MaterializerRegistry;
  launcher: StepLauncher;
  /** Static runs record step configurations with the snapshot, so step runs carry none. */
  recordConfigurations: boolean;
  /** Resume: step runs of this run that are already on record, by invocation id. */
  recorded?: Map<string, RecordedStepRun>;
}

export interface EngineOutcome {
  /** The pipeline function's return value with handles encoded as artifact references. */
  output: unknown;
  functionError: Error | undefined;
  /** Step failures that make the run fail (unobserved ones, or any in a static run). */
  fatalFailures: { invocationId: string; error: Error | undefined }[];
  fingerprint: string;
  /** The run's step runs as the engine wrote them, when that is exactly what the store holds (RunRecorder.writtenStepRuns). */
  stepRuns: StepRunRecord[] | undefined;
}

/**
 * The one run engine. It receives the step calls of a pipeline function (static or
 * dynamic) and of map expansions, keeps the graph of step runs, starts each step run as
 * soon as its inputs are ready (up to the launcher's bound), records every transition in
 * the metadata store, and resolves handles for the function.
 *
 * Its parts: the graph state (graph.ts), step and template names (naming.ts), the attempt
 * rules (attempts.ts), the cache lookup (cache.ts), resume's replay checks (replay.ts),
 * value resolution (refs.ts) and the recorder, its only way to write (recorder.ts). What
 * stays here is the algorithm: discovery, map expansion, readiness and launching.
 */
export class RunEngine implements GraphBuilder {
  readonly isDynamic: boolean;
  readonly pipelineName: string;
  private readonly graph: RunGraph;
  private readonly refs: ValueResolver;
  private readonly namer = new StepNamer();
  private readonly readyQueue: Node[] = [];
  private readyHead = 0;
  private running = 0;
  private pumping = false;
  private pumpQueued = false;
  private resumePump: NodeJS.Immediate | undefined;
  private unsettled = 0;
  /** Pipeline-function work still going on (the function itself, async map expansions). */
  private functionWork = 0;
  private functionError: Error | undefined;
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  /** The engine's only way to write to the metadata store. */
  private readonly recorder: RunRecorder;
  private readonly replay: Replay;
  /** Objects the pipeline function got by awaiting a step's output, and that output. */
  private readonly awaited = new WeakMap<object, { invocationId: string; artifact: ArtifactRef }>();

  constructor(private readonly options: EngineOptions) {
    this.isDynamic = options.isDynamic;
    this.pipelineName = options.pipelineName;
    this.recorder = new RunRecorder(
      options.store,
      options.runId,
      (error) => this.stopOnStoreError(error),
      options.artifactStoreId ?? null,
      (node) => this.newStepRun(node as Node),
    );
    this.replay = new Replay(options.recorded);
    this.graph = new RunGraph(options.runId);
    this.refs = new ValueResolver(this.graph, options);
  }

  // ---- the pipeline function ---------------------------------------------------------

  /** Runs the pipeline function to the end of the run: every launched step has ended. */
  async run(fn: (params: any) => unknown, params: Record<string, unknown>): Promise<EngineOutcome> {
    let returned: unknown;
    this.functionWork += 1;
    try {
      ({ value: returned } = await settle(runInPipelineScope({ builder: this, mappingPath: "" }, () => fn(params))));
    } catch (error) {
      this.failFunction(error);
    } finally {
      this.functionWork -= 1;
    }
    await this.idle();
    let output: unknown = null;
    if (!this.functionError) {
      try {
        output = await this.encodeOutput(returned);
      } catch (error) {
        this.failFunction(error);
      }
    }
    // The first store error, if any, is the run's error.
    await this.recorder.settle();
    const failed = [...this.graph.nodes.values()].filter((n) => n.status === "failed");
    const fatal = this.isDynamic ? failed.filter((n) => !n.observed) : failed;
    return {
      output,
      functionError: this.functionError,
      fatalFailures: fatal.map((n) => ({ invocationId: n.invocationId, error: n.error })),
      fingerprint: this.fingerprint(),
      stepRuns: this.recorder.writtenStepRuns(),
    };
  }

  private failFunction(error: unknown): void {
    this.functionError ??= error instanceof Error ? error : new Error(String(error));
    // Nothing new starts; what is running ends on its own (no orphans).
    this.stopping = true;
    for (const node of this.graph.nodes.values()) {
      if (node.status === "pending") this.finish(node, "skipped", this.functionError);
    }
  }

  /**
   * `weir runs cancel` (or SIGINT elsewhere): the run stops as after a failure of the pipeline
   * function: nothing new starts, pending steps are skipped, running ones end on their own.
   */
  cancel(reason: Error): void {
    this.failFunction(reason);
    this.checkIdle();
  }

  /** A store error stops the run at once: nothing new starts; what is running ends on its own. */
  private stopOnStoreError(error: Error): void {
    this.stopping = true;
    for (const node of this.graph.nodes.values()) {
      if (node.status === "pending") this.finish(node, "skipped", error);
    }
  }

  private idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.unsettled === 0 && this.functionWork === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ---- GraphBuilder: step calls, map, collect, await -----------------------------------

  addStep(step: StepDefinition, args: unknown[], call: CallOptions, scope: PipelineScope): Handle {
    const invocationId = this.namer.stepId(step.name, call.id, scope);
    const specs = encodeArgs(step, args, this, scope.mappingPath);
    const after = (call.after ?? NONE).map((h) => {
      if (!isHandle(h)) throw new MapInputError(`step "${invocationId}": withOptions({ after }) takes step handles`);
      return h.ref;
    });
    const recorded = this.replay.next(scope.mappingPath, invocationId, step.name);
    if (this.stopping) {
      throw (
        this.functionError ??
        this.recorder.failure ??
        new Error(`run of "${this.pipelineName}" is stopping; step "${invocationId}" was not started`)
      );
    }

    const refs = after.length === 0 ? refsOf(specs) : [...refsOf(specs), ...after];
    // What it waits on and its upstream ids, each once.
    const deps: Waitable[] = [];
    const upstream: string[] = [];
    if (refs.length <= 8) {
      // Most calls pass a few handles at most: includes() beats making Sets.
      for (const ref of refs) {
        const waitable = this.graph.waitableOf(ref);
        if (waitable && !deps.includes(waitable)) deps.push(waitable);
        const id = this.graph.upstreamOf(ref);
        if (!upstream.includes(id)) upstream.push(id);
      }
    } else {
      for (const waitable of new Set(refs.map((ref) => this.graph.waitableOf(ref)))) if (waitable) deps.push(waitable);
      for (const id of new Set(refs.map((ref) => this.graph.upstreamOf(ref)))) upstream.push(id);
    }
    const derived = this.isDynamic ? this.derivedFrom(args) : undefined;
    for (const d of derived ?? []) if (!upstream.includes(d.invocationId)) upstream.push(d.invocationId);
    const node = new Node(
      recorded?.record.id ?? timeOrderedId(),
      invocationId,
      step,
      specs,
      scope.mappingPath || undefined,
      this.graph.nodes.size,
      upstream,
    );
    this.graph.nodes.set(invocationId, node);
    this.unsettled += 1;
    if (derived) node.derived = derived.map(({ index, artifact }) => ({ index, artifact }));

    if (recorded) {
      node.attempt = recorded.record.attempt;
      node.metadata = { ...recorded.record.metadata };
      if (recorded.record.status === "running" && recorded.record.attempt > 0) node.unfinishedAttempt = recorded.record.attempt;
    }
    if (recorded && (recorded.record.status === "completed" || recorded.record.status === "cached")) {
      // Resume: this step already ran in this run; answer from the record.
      for (const out of recorded.outputs) {
        if (out.mappingKey === null) node.output = out.artifact;
        else node.addItem(out.mappingKey, out.artifact);
      }
      this.finish(node, recorded.record.status, undefined, false);
      return this.handleOf(node);
    }

    if (recorded) this.recorder.reset(node);
    else this.recorder.discovered(node);

    // A step that can never get the resources it asks for fails now, not after its inputs.
    const impossible = this.options.launcher.admissible?.({ invocationId, resources: step.resources });
    if (impossible) {
      this.finish(node, "failed", new ResourceRequestError(impossible));
      return this.handleOf(node);
    }

    node.unmetDeps = deps.length;
    if (deps.length === 0) this.enqueue(node);
    for (const dep of deps) {
      dep.onSettled(() => {
        if (node.settled) return;
        if (dep.failedRoot) {
          this.finish(node, "skipped", new UpstreamFailedError(invocationId, dep.failedRoot.invocationId), true, dep.failedRoot);
          return;
        }
        node.unmetDeps -= 1;
        if (node.unmetDeps === 0) this.enqueue(node);
      });
    }
    return this.handleOf(node);
  }

  map(source: Handle, fn: (item: Handle) => unknown, scope: PipelineScope): Handle {
    const group = new MapGroup(`map_${this.graph.groups.size + 1}`, this.graph.upstreamOf(source.ref), fn, scope.mappingPath, this.namer.mapTemplate(scope));
    // Mapping a step itself: its template id is taken now, in call order, as compile() does.
    if (isStep(fn) && fn.definition.options.id === undefined) this.namer.reserve(group.template, fn.definition.name);
    this.graph.groups.set(group.id, group);
    this.unsettled += 1;
    group.onSettled(() => {
      this.unsettled -= 1;
      this.checkIdle();
    });
    const ref = source.ref;
    if (ref.kind === "output") {
      const producer = this.graph.nodes.get(ref.node)!;
      if (!producer.step.dynamicOutput) {
        throw new MapInputError(
          `map() needs a dynamicOutput step's output, but step "${ref.node}" returns a single value; ` +
            "declare it with step({ dynamicOutput: true }, …), or use step.map(list) in a dynamic pipeline",
        );
      }
      producer.groups.push(group);
      // Items already produced (a resumed or cached producer) are expanded now.
      for (let index = 0; index < producer.items.length; index++) this.expandProducerItem(producer, index, [group]);
      producer.onSettled(() => this.closeGroup(group, producer.failedRoot));
    } else if (ref.kind === "mapped") {
      const parent = this.graph.groups.get(ref.group)!;
      parent.children.push(group);
      for (const result of parent.inEmissionOrder()) if (result.delivered) this.expandItem(group, result.key, result.value, result.order);
      if (parent.drained) this.closeGroup(group, parent.failedRoot);
    } else {
      throw new MapInputError(`map() takes a dynamicOutput step's output or a mapped handle, not the ${ref.kind} handle`);
    }
    return new Handle(this, { kind: "mapped", group: group.id }, scope.mappingPath);
  }

  collect(source: Handle, scope: PipelineScope): Handle {
    if (source.ref.kind === "mapped") return new Handle(this, { kind: "collected", group: source.ref.group }, source.scope);
    if (source.ref.kind === "output") {
      // Collecting a dynamic output directly: an identity map gives the items.
      return this.map(source, (item) => item, scope).collect();
    }
    throw new MapInputError(`collect() takes a dynamicOutput step's output or a mapped handle, not the ${source.ref.kind} handle`);
  }

  async valueOf(handle: Handle): Promise<unknown> {
    const ref = handle.ref;
    const waitable = this.graph.waitableOf(ref);
    if (waitable) {
      this.observe(waitable);
      if (!waitable.settled) await new Promise<void>((resolve) => waitable.onSettled(resolve));
      if (waitable.failedRoot) throw this.failureOf(waitable);
    }
    const value = await this.refs.loadRef(ref);
    // Remembered so that passing it to a step keeps the lineage edge (it is a parameter then).
    if (ref.kind === "output" && typeof value === "object" && value !== null) {
      const node = this.graph.nodeOf(ref.node);
      if (node.output) this.awaited.set(value, { invocationId: node.invocationId, artifact: node.output });
    }
    return value;
  }

  /** The awaited step outputs among a call's arguments (passed as values, so they become parameters). */
  private derivedFrom(args: unknown[]): { index: number; invocationId: string; artifact: ArtifactRef }[] | undefined {
    let derived: { index: number; invocationId: string; artifact: ArtifactRef }[] | undefined;
    for (let index = 0; index < args.length; index++) {
      const arg = args[index];
      if (typeof arg !== "object" || arg === null || isHandle(arg)) continue;
      const from = this.awaited.get(arg);
      if (from) (derived ??= []).push({ index, ...from });
    }
    return derived;
  }

  // ---- map expansion -------------------------------------------------------------------

  /** Expands a producer's item (by its emission position) in the given groups. */
  private expandProducerItem(producer: Node, index: number, groups: readonly MapGroup[] = producer.groups): void {
    const { key } = producer.items[index]!;
    const handle = new Handle(this, { kind: "item", node: producer.invocationId, key });
    for (const group of groups) this.expandItem(group, key, handle, index);
  }

  /** `order`: the item's emission position, which the group's results are read in. */
  private expandItem(group: MapGroup, key: string, item: unknown, order: number): void {
    // An item can reach a group twice (a group created while its producer reports the item).
    if (group.keys.has(key)) return;
    group.keys.add(key);
    const path = childPath(group.parentPath, key);
    const entry: MapResult = { key, path, order, value: undefined, delivered: false };
    group.addResult(entry);
    if (this.stopping) return;
    // The item handle belongs to this expansion: using it elsewhere is refused (args.ts).
    const itemHandle = isHandle(item) && item.ref.kind === "item" ? new Handle(this, item.ref, path) : item;
    const expansion = newExpansion(group.template);
    let result: unknown;
    try {
      result = runInPipelineScope({ builder: this, mappingPath: path, expansion }, () => group.fn(itemHandle as Handle));
    } catch (error) {
      this.failFunction(error);
      return;
    }
    const deliver = (value: unknown) => {
      if (hidesHandle(value)) {
        this.failFunction(
          new MapInputError(
            `the map function over ${group.label} returned, for item "${key}", a value holding step handles inside an object; ` +
              "return a handle or a list of handles (a step never receives a handle as a value)",
          ),
        );
        return;
      }
      entry.value = value;
      entry.delivered = true;
      // Children get it now, in arrival order; their results are read in emission order.
      for (const child of group.children) this.expandItem(child, key, value, order);
    };
    if (isPromiseLike(result) && !isHandle(result)) {
      // An async sub-graph function: its work counts as pipeline-function work.
      group.pendingResults += 1;
      this.functionWork += 1;
      Promise.resolve(result)
        .then(deliver, (error) => this.failFunction(error))
        .finally(() => {
          group.pendingResults -= 1;
          this.functionWork -= 1;
          this.groupChanged(group);
          this.checkIdle();
        });
    } else {
      deliver(result);
    }
  }

  private closeGroup(group: MapGroup, failedRoot: Node | undefined): void {
    group.closed = true;
    group.failedRoot ??= failedRoot;
    this.groupChanged(group);
  }

  /** Children of a group close once it is closed and has delivered every result. */
  private groupChanged(group: MapGroup): void {
    if (group.closed && !group.drained && group.pendingResults === 0) {
      group.drained = true;
      for (const child of group.children) this.closeGroup(child, group.failedRoot);
    }
    group.maybeSettle(() => this.graph.resultWaitables(group));
  }

  // ---- readiness and launching -------------------------------------------------------------

  private enqueue(node: Node): void {
    if (this.stopping) {
      this.finish(node, "skipped", this.functionError);
      return;
    }
    this.readyQueue.push(node);
    // Launched from a microtask, not here: a pipeline function's loop of step calls is not
    // interleaved with the steps it starts, and the launch loop's time slices can yield.
    if (!this.pumping && !this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(this.queuedPump);
    }
  }

  private readonly queuedPump = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  /**
   * Launches ready step runs up to the launcher's bound. Attempts that end within their
   * launch (in-process steps) free their slot at once; the loop then launches the next
   * instead of recursing, so a long chain of such steps does not grow the stack. After
   * PUMP_SLICE_MS of that it yields to the event loop (timers, signals, the store's commits)
   * and carries on in the next turn.
   */
  private pump(): void {
    if (this.pumping) return; // the loop below picks up what was enqueued meanwhile
    this.pumping = true;
    const max = this.options.launcher.maxParallel;
    const sliceEnd = performance.now() + PUMP_SLICE_MS;
    let launched = 0;
    try {
      while (this.running < max && this.readyHead < this.readyQueue.length) {
        if (++launched % 64 === 0 && performance.now() > sliceEnd) {
          this.resumePump ??= setImmediate(() => {
            this.resumePump = undefined;
            this.pump();
          });
          break;
        }
        const node = this.readyQueue[this.readyHead++];
        if (node.settled) continue;
        this.running += 1;
        this.launch(node);
      }
      if (this.readyHead > 1024 && this.readyHead * 2 > this.readyQueue.length) {
        this.readyQueue.splice(0, this.readyHead);
        this.readyHead = 0;
      }
    } finally {
      this.pumping = false;
    }
  }

  private launch(node: Node): void {
    let running: void | Promise<void> = undefined;
    try {
      running = this.runNode(node);
    } catch (error) {
      this.failedOutsideStep(node, error);
    }
    if (running) running.catch((error: unknown) => this.failedOutsideStep(node, error)).finally(this.launchEnded);
    else this.launchEnded();
  }

  private readonly launchEnded = (): void => {
    this.running -= 1;
    this.pump();
  };

  /** A bug or store failure outside the step's own code still ends the step run. */
  private failedOutsideStep(node: Node, error: unknown): void {
    if (node.settled) return;
    const err = error instanceof Error ? error : new Error(String(error));
    this.recordFailure(node, node.attempt, err, true);
    this.finish(node, "failed", err);
  }

  private runNode(node: Node): void | Promise<void> {
    const args = node.args.map((spec) => this.refs.resolveArg(spec));
    // A collect only knows which step runs it gathers now that the map has settled.
    const upstream = this.graph.collectedUpstream(node);
    // The step run's row goes out now (it is made from the node's arguments, dropped next).
    this.recorder.launching(node);
    node.args = [];
    this.recorder.inputs(node, this.refs.inputLinks(node, args));
    if (this.stopping) return this.finish(node, "skipped", this.functionError ?? this.recorder.failure);

    const task: StepTask = {
      runId: this.options.runId,
      stepRunId: node.id,
      pipelineName: this.pipelineName,
      invocationId: node.invocationId,
      stepName: node.step.name,
      module: node.step.module,
      mappingKey: node.mappingKey,
      attempt: 0,
      args,
      resources: node.step.resources,
      settings: node.step.options.settings ?? {},
      dynamicOutput: node.step.dynamicOutput,
      variant: node.step.variant,
    };
    if (node.step.options.timeoutMs !== undefined) task.timeoutMs = node.step.options.timeoutMs;
    const cacheKey = this.cacheEnabled(node.step) ? cacheKeyOf(node.step, args, this.options.materializers, this.options.artifacts) : null;
    if (cacheKey) {
      return this.tryCache(node, cacheKey, upstream).then((hit) => (hit ? undefined : this.attempts(node, task, upstream, cacheKey)));
    }
    return this.attempts(node, task, upstream, null);
  }

  /**
   * The attempts of one step run. The common case, a first attempt with nothing to follow
   * or hold back, is launched here: when the launcher answers at once (an in-process step
   * that did not wait) it completes without a promise. Everything else, and any failure,
   * goes on in `attemptLoop`.
   */
  private attempts(node: Node, task: StepTask, upstream: string[] | undefined, cacheKey: string | null): void | Promise<void> {
    const { options } = node.step;
    const holdItems = node.step.dynamicOutput && (options.retry?.maxRetries ?? 0) > 0;
    if (node.unfinishedAttempt !== undefined || holdItems) return this.attemptLoop(node, task, upstream, cacheKey);
    node.status = "running";
    const attempt = (task.attempt = node.attempt += 1);
    let result: AttemptResult | Promise<AttemptResult>;
    try {
      result = launchAttempt(this.options.launcher, task, new EngineHooks(this, node, attempt, upstream), options.timeoutMs);
    } catch (error) {
      return this.attemptLoop(node, task, upstream, cacheKey, { attempt, error });
    }
    if (!(result instanceof Promise)) return this.succeeded(node, result, cacheKey);
    return result.then(
      (done) => this.succeeded(node, done, cacheKey),
      (error: unknown) => this.attemptLoop(node, task, upstream, cacheKey, { attempt, error }),
    );
  }

  private succeeded(node: Node, result: AttemptResult, cacheKey: string | null): void | Promise<void> {
    mergeInto(node, result.metadata);
    // The hook runs before the completion is recorded, so what it records is part of it.
    if (node.step.options.onSuccess) return this.runHook(node, "onSuccess").then(() => this.complete(node, result, cacheKey));
    this.complete(node, result, cacheKey);
  }

  /** Attempts one after another, with the retry rules; `failed`: the first attempt already failed so. */
  private async attemptLoop(
    node: Node,
    base: StepTask,
    upstream: string[] | undefined,
    cacheKey: string | null,
    failed?: { attempt: number; error: unknown },
  ): Promise<void> {
    const { retry, timeoutMs } = node.step.options;
    // A producer that may be retried releases its items when an attempt succeeds, so
    // items of a failed attempt never reach a map; one that may not streams them.
    const holdItems = node.step.dynamicOutput && (retry?.maxRetries ?? 0) > 0;
    // Retry limits count this launch's tries; `attempt` keeps counting across resumes.
    let schedule: RetrySchedule | undefined; // made on the first failure (most steps never fail)
    // Resume: the attempt an earlier driver left running is followed, not run again, while it is alive.
    let unfinished = node.unfinishedAttempt;
    node.unfinishedAttempt = undefined;
    for (;;) {
      let attempt = node.attempt;
      let thrown: { error: unknown } | undefined;
      let result: AttemptResult | undefined;
      const held: ProducedArtifact[] | undefined = holdItems ? [] : undefined;
      if (failed) {
        attempt = failed.attempt;
        thrown = failed;
        failed = undefined;
      } else {
        node.status = "running";
        try {
          if (unfinished !== undefined) {
            const following = unfinished;
            unfinished = undefined;
            const hooks = new EngineHooks(this, node, following, upstream, held, () => {
              this.recorder.adopted(node, following);
              this.log(node, "log", `attempt ${following} is still running (started before the resume): following it instead of starting another`);
            });
            result = await adoptAttempt(this.options.launcher, { ...base, attempt: following }, hooks, timeoutMs);
          }
          if (!result) {
            attempt = node.attempt += 1;
            const hooks = new EngineHooks(this, node, attempt, upstream, held);
            result = await launchAttempt(this.options.launcher, { ...base, attempt }, hooks, timeoutMs);
          }
        } catch (error) {
          thrown = { error };
        }
      }
      if (thrown) {
        const error = thrown.error instanceof Error ? thrown.error : new Error(String(thrown.error));
        const delayMs = (schedule ??= new RetrySchedule(retry)).next(this.stopping);
        this.recordFailure(node, attempt, error, delayMs === undefined);
        if (delayMs === undefined) {
          node.error = error;
          if (node.step.options.onFailure) await this.runHook(node, "onFailure", error);
          return this.finish(node, "failed", error);
        }
        this.log(node, "log", `attempt ${attempt} failed: ${errorMessage(error)}; retrying in ${delayMs} ms`);
        if (delayMs > 0) await sleep(delayMs);
        continue;
      }
      for (const item of held ?? []) this.recordItem(node, item);
      return this.succeeded(node, result!, cacheKey);
    }
  }

  // ---- what an attempt reports (EngineHooks) ----------------------------------------------

  /** @internal EngineHooks: the attempt really began. */
  attemptStarted(node: Node, attempt: number, upstream: string[] | undefined): void {
    this.recorder.started(node, attempt, upstream);
  }

  /** @internal EngineHooks: a log line of the attempt. */
  attemptLog(node: Node, stream: "stdout" | "stderr" | "log", message: string): void {
    this.log(node, stream, message);
  }

  /** @internal EngineHooks: a dynamic output item was stored. */
  attemptItem(node: Node, item: ProducedArtifact): Promise<void> {
    this.recordItem(node, item);
    return Promise.resolve();
  }

  /** @internal EngineHooks: why the attempt waits (or `undefined`: it no longer does). */
  attemptWaiting(node: Node, reason: string | undefined): void {
    this.recordWaiting(node, reason);
  }

  /** @internal EngineHooks: the resolver of input values. */
  get values(): ValueResolver {
    return this.refs;
  }

  /**
   * Keeps a failed attempt in the step run's record, whatever happens next: its message and
   * stack in `metadata.attempts` (and `metadata.failure` when the step run fails with it),
   * what the step recorded before failing, and the stack as a log line.
   */
  private recordFailure(node: Node, attempt: number, error: Error, final: boolean): void {
    const failure = { attempt, error: errorMessage(error), stack: error.stack ?? errorMessage(error) };
    const attempts = Array.isArray(node.metadata.attempts) ? node.metadata.attempts : [];
    const patch = { ...metadataOfFailure(error), attempts: [...attempts, failure], ...(final ? { failure } : {}) };
    // A final failure is recorded with the step run's end (finish); an earlier one now.
    if (final) Object.assign(node.metadata, patch);
    else this.recorder.mergeMetadata(node, patch);
    this.log(node, "stderr", failure.stack);
  }

  /**
   * Why the attempt waits, durable so `weir runs show` can say it; removed once it is no
   * longer true. `since` is when it began waiting, kept while the reason's wording changes.
   */
  private recordWaiting(node: Node, reason: string | undefined): void {
    if (reason !== undefined) {
      const since = (node.metadata.waiting as { since?: number } | undefined)?.since ?? Date.now();
      return this.recorder.mergeMetadata(node, { waiting: { reason, since } });
    }
    if (!("waiting" in node.metadata)) return;
    delete node.metadata.waiting;
    this.recorder.mergeMetadata(node, {});
  }

  private recordItem(node: Node, item: ProducedArtifact): void {
    const key = item.mappingKey!;
    const artifact = artifactRefOf(item.artifact);
    this.refs.remember(artifact, item);
    const position = node.items.length;
    node.addItem(key, artifact);
    // Not awaited: the row is applied before any later write (mapped steps' inputs included).
    this.recorder.item(node, item.artifact, { stepRunId: node.id, artifactVersionId: artifact.id, outputName: "output", mappingKey: key, position });
    this.expandProducerItem(node, position);
  }

  /**
   * Records the completion and wakes dependents at once: their writes come after this one
   * in the store's order, so a crash can never keep a dependent but lose this completion.
   */
  private complete(node: Node, result: AttemptResult, cacheKey: string | null): void {
    if (result.output) {
      // The new version itself is the node's reference to it (it has every field of one).
      node.output = result.output.artifact;
      this.refs.remember(node.output, result.output);
    }
    this.recorder.completed(node, node.attempt, {
      status: "completed",
      endedAt: Date.now(),
      cacheKey,
      newArtifacts: result.output ? [result.output.artifact] : [],
      outputs: result.output
        ? [{ artifactVersionId: result.output.artifact.id, outputName: "output", mappingKey: null, position: 0 }]
        : [],
    });
    this.finish(node, "completed", undefined, false);
  }

  private async tryCache(node: Node, cacheKey: string, upstream: string[] | undefined): Promise<boolean> {
    const hit = await findCacheHit(this.options.store, this.options.artifacts, cacheKey);
    // The run may have stopped during the lookup (a network store's round trip): the node was
    // skipped then, and nothing new starts; returning true keeps it from being launched.
    if (node.settled) return true;
    if (!hit) return false;
    const { original, outputs } = hit;
    for (const { link, artifact } of outputs) {
      if (link.mappingKey === null) node.output = artifact;
    }
    // Items are re-emitted in order so that maps over a cached producer expand as usual.
    for (const { link, artifact } of outputs) {
      if (link.mappingKey === null) continue;
      node.addItem(link.mappingKey, artifact);
      this.expandProducerItem(node, node.items.length - 1);
    }
    // A collect's mapped upstream is only known now: record it as a run that executes does.
    if (upstream) this.recorder.upstream(node, upstream);
    this.recorder.completed(node, node.attempt, {
      status: "cached",
      endedAt: Date.now(),
      cacheKey,
      originalStepRunId: original.id,
      newArtifacts: [],
      outputs: outputs.map(({ link: { artifactVersionId, outputName, mappingKey, position } }) => ({ artifactVersionId, outputName, mappingKey, position })),
    });
    this.log(node, "log", `cached: reused the outputs of step run ${original.id} (${original.invocationId})`);
    this.finish(node, "cached", undefined, false);
    return true;
  }

  private cacheEnabled(step: StepDefinition): boolean {
    return this.options.enableCache && step.options.enableCache !== false;
  }

  /** Moves a node to its final state, records it (unless already recorded), and wakes dependents. */
  private finish(node: Node, status: FinalStatus, error?: Error, record = true, upstreamRoot?: Node): void {
    if (node.settled) return;
    node.error = error;
    if (record) this.recorder.finished(node, status, error ? errorMessage(error) : null);
    // Dependents read failedRoot when woken, so it is set before settling.
    if (status === "skipped") node.failedRoot = upstreamRoot ?? node;
    node.settle(status);
    this.unsettled -= 1;
    this.checkIdle();
  }

  private async runHook(node: Node, hook: "onSuccess" | "onFailure", error?: Error): Promise<void> {
    const fn = node.step.options[hook];
    if (!fn) return;
    const context: StepContext = {
      runId: this.options.runId,
      stepName: node.invocationId,
      mappingKey: node.mappingKey,
      attempt: node.attempt,
      resources: node.step.resources,
      log: (...parts) => this.log(node, "log", parts.map(String).join(" ")),
      // Merged into the step run's metadata, which the caller records next.
      addMetadata: (record) => Object.assign(node.metadata, record),
    };
    const failed = await runStepHook(fn, context, error);
    if (failed) {
      this.log(node, "stderr", `${hook} hook failed: ${failed.stack}`);
      node.metadata[`${hook}Error`] = failed.error;
    }
  }

  // ---- references ------------------------------------------------------------------------

  /** Someone looks at this result: a failure behind it (now or later) counts as handled. */
  private observe(waitable: Waitable): void {
    if (waitable instanceof Node) waitable.observed = true;
    waitable.onSettled(() => {
      if (waitable.failedRoot) waitable.failedRoot.observed = true;
    });
  }

  /** The error of the step run that failed first, for a waitable that settled unsuccessfully. */
  private rootFailure(waitable: Waitable): Error {
    const root = waitable.failedRoot!;
    if (root.status === "failed") return new StepFailedError(root.invocationId, errorMessage(root.error), { cause: root.error });
    return root.error ?? new UpstreamFailedError(waitable.label, root.invocationId);
  }

  private failureOf(waitable: Waitable): Error {
    const root = waitable.failedRoot!;
    if (waitable === root && root.status === "failed") {
      return new StepFailedError(root.invocationId, errorMessage(root.error), { cause: root.error });
    }
    if (waitable instanceof Node && waitable.error) return waitable.error;
    return new UpstreamFailedError(waitable.label, root.invocationId);
  }

  private handleOf(node: Node): Handle {
    return new Handle(this, { kind: "output", node: node.invocationId }, node.mappingKey ?? "");
  }

  // ---- output, records, logs -------------------------------------------------------------

  /** Replaces handles in the function's return value by artifact references, deeply. */
  private async encodeOutput(value: unknown): Promise<unknown> {
    if (isHandle(value)) {
      const waitable = this.graph.waitableOf(value.ref);
      if (waitable) {
        this.observe(waitable);
        // Returning the output of a failed step fails the run with that step's own error.
        if (waitable.failedRoot) throw this.rootFailure(waitable);
      }
      return this.refs.encodeResolved(this.refs.resolveRef(value.ref));
    }
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.encodeOutput(v)));
    if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
      const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await this.encodeOutput(v)] as const));
      return Object.fromEntries(entries);
    }
    if (value === undefined || jsonProblem(value) === undefined) return value ?? null;
    // A plain value that is not JSON (a Map, a Date…) is stored as an artifact of the run.
    const produced = await materialize(
      value,
      { runId: this.options.runId, pipelineName: this.pipelineName, invocationId: "__output__" },
      this.options,
      null,
      {},
    );
    await this.recorder.artifact(produced.artifact);
    return { $artifact: produced.artifact.id };
  }

  /** A discovered step run's row, as the recorder writes it (when the step run starts). */
  private newStepRun(node: Node): NewStepRun {
    return {
      id: node.id,
      runId: this.options.runId,
      invocationId: node.invocationId,
      stepName: node.step.name,
      mappingKey: node.mappingKey ?? null,
      position: node.position,
      upstream: node.upstream,
      parameters: parametersOf(node.step, node.args),
      // Static snapshots hold the template of a mapped step, not each run: those record their own.
      configuration: this.options.recordConfigurations || node.mappingKey !== undefined ? this.configurationOf(node.step) : undefined,
    };
  }

  /** One object per step definition: the store serializes it once. */
  private configurationOf(step: StepDefinition): unknown {
    let configuration = configurations.get(step);
    if (!configuration) configurations.set(step, (configuration = this.describeConfiguration(step)));
    return configuration;
  }

  private describeConfiguration(step: StepDefinition): object {
    return {
      stepName: step.name,
      module: step.module,
      settings: { ...step.options.settings, resources: step.resources },
      retry: step.options.retry ?? null,
      timeoutMs: step.options.timeoutMs ?? null,
      enableCache: step.options.enableCache ?? null,
      dynamicOutput: step.dynamicOutput,
    };
  }

  private fingerprint(): string {
    const hash = createHash("sha256");
    const nodes = [...this.graph.nodes.values()].sort((a, b) => (a.invocationId < b.invocationId ? -1 : 1));
    for (const node of nodes) hash.update(`${node.invocationId}\u0000${node.step.name}\u0000${[...node.upstream].sort().join(",")}\n`);
    return hash.digest("hex");
  }

  private log(node: Node | null, stream: LogLine["stream"], message: string): void {
    this.recorder.log(node, stream, message);
  }
}

const configurations = new WeakMap<StepDefinition, unknown>();
const NONE: readonly never[] = [];

/** How long the launch loop runs attempts that end at once before it lets the event loop turn (ms). */
const PUMP_SLICE_MS = 20;

/**
 * What an attempt reports to the engine (AttemptHooks), one object per attempt, its
 * functions on the prototype: the per-step path makes no closures for them.
 */
class EngineHooks implements AttemptHooks {
  constructor(
    private readonly engine: RunEngine,
    private readonly node: Node,
    private readonly attempt: number,
    private readonly upstream: string[] | undefined,
    /** A producer that may be retried: its items, held until an attempt succeeds. */
    private readonly held?: ProducedArtifact[],
    /** Resume, following an attempt: what to record when it is found alive (instead of a start). */
    private readonly adopted?: () => void,
  ) {}

  get signal(): AbortSignal {
    return NEVER_ABORTED;
  }

  get step(): StepDefinition {
    return this.node.step;
  }

  started(): void {
    if (this.adopted) this.adopted();
    else this.engine.attemptStarted(this.node, this.attempt, this.upstream);
  }

  onItem(item: ProducedArtifact): Promise<void> {
    if (this.held) {
      this.held.push(item);
      return Promise.resolve();
    }
    return this.engine.attemptItem(this.node, item);
  }

  onLog(stream: "stdout" | "stderr" | "log", message: string): void {
    this.engine.attemptLog(this.node, stream, message);
  }

  onWaiting(reason: string | undefined): void {
    this.engine.attemptWaiting(this.node, reason);
  }

  loadArtifact(ref: ArtifactRef): Promise<unknown> {
    return this.engine.values.loadArtifact(ref);
  }

  inMemory(ref: ArtifactRef): unknown {
    return this.engine.values.inMemory(ref);
  }
}

/** A value holding handles where the engine cannot resolve them (inside an object). */
function hidesHandle(value: unknown): boolean {
  if (isHandle(value)) return false;
  if (Array.isArray(value)) return value.some(hidesHandle);
  if (value === null || typeof value !== "object") return false;
  return Object.values(value).some((v) => isHandle(v) || hidesHandle(v));
}

/** Merges a step's metadata into its record; most steps record none, so nothing is copied then. */
function mergeInto(node: Node, metadata: Record<string, unknown>): void {
  for (const _key in node.metadata) {
    Object.assign(node.metadata, metadata);
    return;
  }
  node.metadata = metadata;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

