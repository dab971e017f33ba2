/**
 * Write-behind batching: the contract the engine relies on, written once for every store.
 *
 * The engine issues a step run's writes (create, start, complete) without waiting for the
 * earlier ones; committing each alone would cost a transaction per write (a filesystem sync
 * for SQLite, a network round trip for PostgreSQL). A WriteBatcher queues the writes and
 * hands them to its store's `BatchApplier` a batch at a time.
 *
 * Guarantees (the metadata-store conformance suite checks each of them, per backend):
 * - writes are applied in the order they were called, and batches commit in that order,
 *   so after a crash the store holds a prefix of the writes (minus the rejected ones);
 * - reads see every earlier write, awaited or not: a store's reads call `barrier()` (or
 *   `flushSync()`) first, which commits what is queued;
 * - a write's promise resolves only after the transaction holding it committed, and
 *   rejects with its own error only: one failing write does not poison its batch, the
 *   others commit;
 * - a failing write is undone whole (the applier isolates each multi-statement write in
 *   a SAVEPOINT when one fails), so writes that belong together stay all-or-nothing;
 * - when the batch as a whole fails (BEGIN or COMMIT, disk full, connection lost), every
 *   write of it rejects with that error and nothing of it is on record;
 * - `close()` commits what is pending; later writes reject.
 */

/** What happened to one write of a batch. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Applies a batch of writes in one transaction, in order, and reports one outcome per
 * write. It throws only when the batch as a whole failed (nothing of it committed).
 * Batches handed over one after another are applied in that order.
 */
export interface BatchApplier<Op> {
  apply(ops: readonly Op[]): Outcome[] | Promise<Outcome[]>;
  /**
   * Optional, for an asynchronous applier that works on another thread: blocks until every
   * batch handed over so far is applied (their promises settle later, as usual). It lets
   * `flushSync` work: a read on this thread must see every write made before it.
   */
  waitSync?(): void;
}

export interface WriteBatcherOptions {
  /**
   * Most writes one batch holds: when this many are waiting they are applied at once
   * instead of at the end of the turn. It bounds the memory the queue holds and how much
   * work a batch-level failure rejects at once.
   */
  maxBatch: number;
  /**
   * Batches an asynchronous applier may have at once (default 1: the next batch accumulates
   * while one is in flight, PostgreSQL's group commit). An applier on another thread takes
   * a few, so that this thread never waits for it.
   */
  maxInFlight?: number;
}

interface Pending<Op> {
  op: Op;
  resolve: (value: unknown, context: unknown) => void;
  reject: (error: unknown) => void;
  /** Passed back to `resolve` (enqueueWith): one shared callback serves every write. */
  context?: unknown;
}

/**
 * Queues writes and applies them in batches. A synchronous applier (SQLite on this thread)
 * commits every write of a turn of the event loop together; an asynchronous one (PostgreSQL,
 * SQLite's writer thread) keeps batches in flight while the next accumulates (group commit).
 */
export class WriteBatcher<Op> {
  private pending: Pending<Op>[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Batches an asynchronous applier is applying, oldest first. */
  private readonly inFlight: Promise<void>[] = [];
  private closed = false;
  /** Writes queued so far (the last one's number), and how many of them have settled (in queue order). */
  private queued = 0;
  private settledWrites = 0;
  /** `queuedSettled()` callers, in the order they asked (so by `through`, ascending). */
  private waiters: { through: number; resolve: () => void }[] = [];

  constructor(
    private readonly applier: BatchApplier<Op>,
    private readonly options: WriteBatcherOptions,
  ) {}

  /** Queues `op`; resolves with its result once the batch holding it committed. */
  enqueue<T>(op: Op): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the metadata store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      this.queued++;
      this.scheduleFlush();
    });
  }

  /**
   * Queues `op` like `enqueue`, without a promise of its own: `resolve` hears its outcome
   * value (with `context`), `reject` its error. The run engine's per-step writes take this
   * path: a promise per write, with the hooks AsyncLocalStorage installs, cost more than
   * the write's own statement.
   */
  enqueueWith(op: Op, resolve: (value: unknown, context: unknown) => void, reject: (error: unknown) => void, context?: unknown): void {
    if (this.closed) return reject(new Error("the metadata store is closed"));
    this.pending.push({ op, resolve, reject, context });
    this.queued++;
    this.scheduleFlush();
  }

  get size(): number {
    return this.pending.length;
  }

  /** The number of the last write queued (writes are numbered from 1 in queue order). */
  get queuedCount(): number {
    return this.queued;
  }

  /** How many writes have settled: write n has once this reaches n. */
  get settledCount(): number {
    return this.settledWrites;
  }

  private scheduleFlush(): void {
    if (this.pending.length >= this.options.maxBatch && this.inFlight.length < this.maxInFlight) this.flushNow();
    else this.scheduled ??= setImmediate(this.scheduledFlush);
  }

  private get maxInFlight(): number {
    return this.options.maxInFlight ?? 1;
  }

  private readonly scheduledFlush = (): void => {
    this.scheduled = undefined;
    this.flushNow();
  };

  /**
   * Commits everything queued, synchronously: a read of the embedded store calls it so that
   * it sees the writes before it. An asynchronous applier must be able to wait (`waitSync`).
   */
  flushSync(): void {
    this.flushNow(Infinity);
    if (this.inFlight.length === 0) return;
    if (!this.applier.waitSync) throw new Error("flushSync() needs a synchronous applier or one that can wait");
    this.applier.waitSync();
  }

  /** Resolves once every write queued before the call has settled (committed or rejected). */
  async barrier(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight.length > 0) {
      if (this.inFlight.length > 0) await this.inFlight[this.inFlight.length - 1];
      else this.flushNow();
    }
  }

  /**
   * Resolves once every write queued before the call has settled, at the batches' own pace:
   * unlike `barrier()` it does not apply anything early. A read that can wait for the end
   * of the turn uses it, so that many such reads (a cache lookup per step) share the commit
   * of the turn's writes instead of forcing one commit each.
   */
  queuedSettled(): Promise<void> {
    if (this.settledWrites === this.queued) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ through: this.queued, resolve }));
  }

  /** Commits what is pending; writes after this reject. */
  async close(): Promise<void> {
    await this.barrier();
    this.closed = true;
    this.cancelScheduled();
  }

  private cancelScheduled(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
  }

  private take(): Pending<Op>[] {
    const batch = this.pending.length <= this.options.maxBatch ? this.pending : this.pending.slice(0, this.options.maxBatch);
    this.pending = batch === this.pending ? [] : this.pending.slice(batch.length);
    return batch;
  }

  /** Applies the next batches: at once when the applier is synchronous, else up to `maxInFlight` of them in flight. */
  private flushNow(maxInFlight = this.maxInFlight): void {
    this.cancelScheduled();
    while (this.pending.length > 0 && this.inFlight.length < maxInFlight) {
      const batch = this.take();
      let outcomes: Outcome[] | Promise<Outcome[]>;
      try {
        outcomes = this.applier.apply(batch.map((p) => p.op));
      } catch (error) {
        for (const write of batch) write.reject(error);
        this.settled(batch.length);
        continue;
      }
      if (!(outcomes instanceof Promise)) {
        settle(batch, outcomes);
        this.settled(batch.length);
        continue;
      }
      const applied: Promise<void> = outcomes
        .then(
          (results) => settle(batch, results),
          (error: unknown) => {
            for (const write of batch) write.reject(error);
          },
        )
        .finally(() => {
          this.settled(batch.length);
          this.inFlight.splice(this.inFlight.indexOf(applied), 1);
          // More accumulated while this one was in flight: send it now.
          if (this.pending.length > 0) this.flushNow();
        });
      this.inFlight.push(applied);
    }
  }

  /** `count` more writes settled (an applier settles its batches in the order it took them). */
  private settled(count: number): void {
    this.settledWrites += count;
    while (this.waiters.length > 0 && this.waiters[0].through <= this.settledWrites) this.waiters.shift()?.resolve();
  }
}

function settle<Op>(batch: Pending<Op>[], outcomes: Outcome[]): void {
  for (let i = 0; i < batch.length; i++) {
    const outcome = outcomes[i];
    if (outcome.ok) batch[i].resolve(outcome.value, batch[i].context);
    else batch[i].reject(outcome.error);
  }
}
