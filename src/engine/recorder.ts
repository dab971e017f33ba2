import type {
  LogLine,
  MetadataStore,
  NewArtifactVersion,
  NewStepRun,
  StepCompletion,
  StepInputLink,
  StepOutputLink,
  StepRunPatch,
  StepRunRecord,
  StepRunWriter,
} from "../stores/metadata/types.js";
import { applyStepRunPatch } from "../stores/metadata/step-run-patch.js";

/** What the recorder needs of a step run: its id and the metadata recorded so far. */
export interface RecordedStep {
  readonly id: string;
  /** Every metadata write carries all of it: patches merge, nothing recorded is lost. */
  metadata: Record<string, unknown>;
  /** The recorder's bookkeeping: where the step run's creation waits (see `discovered`); -1 once written. */
  creationSlot: number;
  /** The recorder's bookkeeping: the step run as its writes left it (see `writtenStepRuns`). */
  written?: StepRunRecord;
  /** The recorder's bookkeeping: the start it holds back (see `started`), or undefined. */
  heldStart?: HeldStart;
}

/** An attempt's start, held back until the end of the turn (RunRecorder.started). */
export interface HeldStart {
  attempt: number;
  startedAt: number;
  upstream: string[] | undefined;
}

/**
 * The run engine's only way to write to the metadata store. Writes are issued at once and
 * not awaited: the store applies them in call order (and may batch them), so the last write
 * settling means every earlier one has. The first store error is kept and reported through
 * `onFailure` (the engine then stops launching); `settle()` rethrows it.
 *
 * Two writes are held back, so that a step that runs and ends quickly costs one row write:
 * - a step run's creation waits until the step run is about to start (or anything else is
 *   written about it). A run discovers steps faster than it runs them (a fan-out of 10,000
 *   is discovered at once); written when it starts, the creation lands in the same batch
 *   as the step's start and end, and the store inserts the row once, in its final state.
 *   Creations are written in discovery order (a step's creation writes those of the steps
 *   discovered before it first), so what a resume finds on record is always the first steps
 *   the pipeline function asked for, as its replay expects (replay.ts);
 * - an attempt's start waits until the end of the turn (`started`).
 */
export class RunRecorder {
  failure: Error | undefined;
  private lastWrite: Promise<void> = Promise.resolve();
  private logBuffer: LogLine[] = [];
  /** Discovered step runs whose creation is not written yet, in discovery order; written up to `nextCreation`. */
  private readonly creations: (RecordedStep | undefined)[] = [];
  private nextCreation = 0;
  /** Step runs whose start may be held (see `started`); flushed at the end of the turn. */
  private starting: RecordedStep[] = [];
  private startFlush: NodeJS.Immediate | undefined;
  private logFlush: Promise<void> | undefined;
  /** The store's promise-free path for step-run writes, when it has one. */
  private readonly writer: StepRunWriter | undefined;
  /** Every step run this recorder created, as its writes left it, in creation (discovery) order. */
  private readonly written: StepRunRecord[] = [];
  /** False once the records above may differ from the store's (a failed or fenced write, a resume). */
  private writtenIsWhole = true;

  constructor(
    private readonly store: MetadataStore,
    private readonly runId: string,
    private readonly onFailure: (error: Error) => void,
    /** The stack component of the run's artifact store: every new version records it, so any process can read it back. */
    private readonly artifactStoreId: string | null = null,
    /** The row of a discovered step run, made when its creation is written (values as of then). */
    private readonly newStepRun: (step: RecordedStep) => NewStepRun = () => {
      throw new Error("internal: the recorder was given no way to describe step runs");
    },
  ) {
    this.writer = store.stepRunWriter?.(this.fail);
  }

  /** A new step run: its creation is written when it starts, or when anything else about it is. */
  discovered(step: RecordedStep): void {
    step.creationSlot = this.creations.push(step) - 1;
  }

  /** The step run is about to start: its row (and those of the steps discovered before it) go out now. */
  launching(step: RecordedStep): void {
    this.create(step);
  }

  /** Resume: a step run that did not complete goes back to pending. */
  reset(step: RecordedStep): void {
    this.writtenIsWhole = false; // the run has step runs an earlier driver wrote
    this.write(() => this.store.resetStepRun(step.id));
  }

  inputs(step: RecordedStep, links: StepInputLink[]): void {
    this.create(step);
    if (links.length === 0) return;
    if (this.writer) this.writer.inputs(links);
    else this.write(() => this.store.addStepInputs(links));
  }

  /**
   * The attempt is running. The write waits for the end of the event-loop turn: an attempt
   * that ends in the turn it started (a tiny step, or a worker that reports the start with
   * the result) has its start folded into the completion, one row write instead of two.
   * Any other write about the step run sends a waiting start first, so call order holds.
   */
  started(step: RecordedStep, attempt: number, upstream: string[] | undefined): void {
    this.create(step);
    this.flushStart(step);
    step.heldStart = { attempt, startedAt: Date.now(), upstream };
    this.starting.push(step);
    this.startFlush ??= setImmediate(() => {
      this.startFlush = undefined;
      this.flushStarts();
    });
  }

  /** Resume: an attempt an earlier driver started is running still, and this run follows it (its start time stays). */
  adopted(step: RecordedStep, attempt: number): void {
    this.writtenIsWhole = false;
    this.patch(step, { status: "running", attempt, error: null });
  }

  /** A dynamic-output item, recorded as soon as it is stored (streaming map). */
  item(step: RecordedStep, artifact: NewArtifactVersion, link: StepOutputLink): void {
    this.create(step);
    this.write(() => this.store.addStepOutput(this.held(artifact), link));
  }

  /** A collect's mapped upstream, known only once its map has settled. */
  upstream(step: RecordedStep, upstream: string[]): void {
    this.patch(step, { upstream });
  }

  /**
   * The step run's last write: its metadata is final, so it is passed as it is. `attempt`
   * lets a store that fences completions drop a stale attempt's late one.
   */
  completed(step: RecordedStep, attempt: number, completion: Omit<StepCompletion, "stepRunId" | "metadata">): void {
    this.create(step);
    const full = completion as StepCompletion;
    full.stepRunId = step.id;
    full.metadata = step.metadata;
    full.attempt = attempt;
    const start = step.heldStart;
    if (start?.attempt === attempt) {
      step.heldStart = undefined;
      const started: NonNullable<StepCompletion["started"]> = { startedAt: start.startedAt };
      if (start.upstream) started.upstream = start.upstream;
      full.started = started;
    } else {
      this.flushStart(step);
    }
    for (let i = 0; i < full.newArtifacts.length; i++) full.newArtifacts[i] = this.held(full.newArtifacts[i]);
    const r = step.written;
    if (r) {
      // What the store makes of this completion (completionPatch), on the step's record.
      if (full.started) {
        r.attempt = attempt;
        r.startedAt = full.started.startedAt;
        r.error = null;
        if (full.started.upstream) r.upstream = full.started.upstream.slice();
      }
      r.status = full.status;
      r.endedAt = full.endedAt;
      if (full.cacheKey !== undefined) r.cacheKey = full.cacheKey;
      if (full.originalStepRunId !== undefined) r.originalStepRunId = full.originalStepRunId;
      // Most steps record no metadata: the record keeps the empty object it was made with.
      if (!isEmpty(full.metadata!) || !isEmpty(r.metadata)) r.metadata = asStored(full.metadata!);
    }
    if (this.writer) return this.writer.complete(full, this.ignored);
    this.write(async () => {
      if (!(await this.store.completeStepRun(full))) this.ignored(full);
    });
  }

  /** Fenced: another attempt (or a resume) moved the step run on; this late result was dropped. */
  private readonly ignored = (completion: StepCompletion): void => {
    this.writtenIsWhole = false;
    const step: RecordedStep = { id: completion.stepRunId, metadata: {}, creationSlot: -1 };
    this.log(step, "log", `a late result of attempt ${completion.attempt} was ignored: the step run had moved on to another attempt or ended`);
  };

  finished(step: RecordedStep, status: "completed" | "cached" | "failed" | "skipped", error: string | null): void {
    this.patch(step, { status, endedAt: Date.now(), error, metadata: { ...step.metadata } });
  }

  /** Merges `patch` into the step run's metadata and records the whole of it. */
  mergeMetadata(step: RecordedStep, patch: Record<string, unknown>): void {
    Object.assign(step.metadata, patch);
    this.patch(step, { metadata: { ...step.metadata } });
  }

  /** An artifact of the run itself (a non-JSON return value); awaited by the caller. */
  async artifact(artifact: NewArtifactVersion): Promise<void> {
    const done = this.store.createArtifactVersion(this.held(artifact)).then(noop);
    this.lastWrite = done.catch(this.fail);
    await done;
  }

  log(step: RecordedStep | null, stream: LogLine["stream"], message: string): void {
    const text = message.endsWith("\n") ? message.slice(0, -1) : message;
    if (text === "") return;
    // Lines belong to step runs whose rows must exist first.
    if (step) this.create(step);
    this.logBuffer.push({ runId: this.runId, stepRunId: step?.id ?? null, stream, message: text, at: Date.now() });
    // Log lines are written in batches, once per turn of the event loop.
    this.logFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushLogs());
  }

  /**
   * The step runs this run's writes made, as the store now holds them (but for `seq` and
   * `createdAt`, which the store sets): what `run()` shows without reading 10,000 rows back.
   * Undefined when they may differ from the store's: a write failed or was fenced, or the run
   * was resumed (an earlier driver wrote some of them). Call after `settle()`.
   */
  writtenStepRuns(): StepRunRecord[] | undefined {
    return this.writtenIsWhole && !this.failure ? this.written : undefined;
  }

  /** Waits for every write issued so far; rejects with the first store error, if any. */
  async settle(): Promise<void> {
    this.createUpTo(this.creations.length - 1);
    this.flushStarts();
    await this.flushLogs();
    await this.lastWrite;
    if (this.writer) await this.writer.settled();
    if (this.failure) throw this.failure;
  }

  private async flushLogs(): Promise<void> {
    this.logFlush = undefined;
    if (this.logBuffer.length === 0) return;
    const lines = this.logBuffer;
    this.logBuffer = [];
    // Lines belong to step runs whose rows must exist first: they go after those writes.
    this.write(() => this.store.appendLogs(lines));
    await this.lastWrite;
  }

  private held(artifact: NewArtifactVersion): NewArtifactVersion {
    if (this.artifactStoreId === null || artifact.artifactStoreId) return artifact;
    artifact.artifactStoreId = this.artifactStoreId;
    return artifact;
  }

  private patch(step: RecordedStep, patch: StepRunPatch): void {
    this.create(step);
    this.flushStart(step);
    this.mirror(step, patch);
    if (this.writer) return this.writer.update(step.id, patch);
    this.write(() => this.store.updateStepRun(step.id, patch));
  }

  /** Writes the step run's creation if it waits, with those of the step runs discovered before it. */
  private create(step: RecordedStep): void {
    if (step.creationSlot >= this.nextCreation) this.createUpTo(step.creationSlot);
  }

  private createUpTo(slot: number): void {
    for (; this.nextCreation <= slot; this.nextCreation++) {
      const waiting = this.creations[this.nextCreation]!;
      this.creations[this.nextCreation] = undefined;
      waiting.creationSlot = -1;
      const row = this.newStepRun(waiting);
      const status = row.status ?? "pending";
      const record: StepRunRecord = {
        id: row.id ?? "",
        runId: row.runId,
        invocationId: row.invocationId,
        stepName: row.stepName,
        status,
        attempt: status === "running" ? 1 : 0,
        mappingKey: row.mappingKey ?? null,
        cacheKey: null,
        originalStepRunId: null,
        position: row.position,
        upstream: row.upstream,
        parameters: row.parameters,
        createdAt: 0,
        startedAt: null,
        endedAt: null,
        error: null,
        metadata: {},
        seq: 0,
      };
      waiting.written = record;
      this.written.push(record);
      if (this.writer) this.writer.create(row);
      else this.write(() => this.store.createStepRun(row));
    }
  }

  private flushStarts(): void {
    const steps = this.starting;
    this.starting = [];
    for (const step of steps) this.flushStart(step);
  }

  /** Sends the step run's waiting "running" write, if it has one. */
  private flushStart(step: RecordedStep): void {
    const start = step.heldStart;
    if (!start) return;
    step.heldStart = undefined;
    const patch: StepRunPatch = { status: "running", attempt: start.attempt, startedAt: start.startedAt, error: null };
    if (start.upstream) patch.upstream = start.upstream;
    this.mirror(step, patch);
    if (this.writer) this.writer.update(step.id, patch);
    else this.write(() => this.store.updateStepRun(step.id, patch));
  }

  /** Applies a write's fields to the step run's record as the store applies them (JSON: as it will read back). */
  private mirror(step: RecordedStep, patch: StepRunPatch): void {
    const r = step.written;
    if (!r) return;
    applyStepRunPatch(r, patch);
    // Copies, as the store serialized them at this call.
    if (patch.upstream !== undefined) r.upstream = patch.upstream.slice();
    if (patch.metadata !== undefined) r.metadata = asStored(patch.metadata);
  }

  private write(fn: () => Promise<unknown>): void {
    this.lastWrite = fn().then(noop, this.fail);
  }

  private readonly fail = (error: unknown): void => {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.onFailure(this.failure);
  };
}

function noop(): void {}

function isEmpty(record: object): boolean {
  for (const _key in record) return false;
  return true;
}

/** A JSON value as the store gives it back (most step runs record no metadata: nothing to copy). */
function asStored(value: Record<string, unknown>): Record<string, unknown> {
  for (const _key in value) return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  return {};
}
