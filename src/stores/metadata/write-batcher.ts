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
 */
export interface BatchApplier<Op> {
  apply(ops: readonly Op[]): Outcome[] | Promise<Outcome[]>;
}

export interface WriteBatcherOptions {
  /**
   * Most writes one batch holds: when this many are waiting they are applied at once
   * instead of at the end of the turn. It bounds the memory the queue holds and how much
   * work a batch-level failure rejects at once.
   */
  maxBatch: number;
}

interface Pending<Op> {
  op: Op;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Queues writes and applies them in batches. A synchronous applier (SQLite) commits every
 * write of a turn of the event loop together; an asynchronous one (PostgreSQL) keeps one
 * batch in flight while the next accumulates (group commit).
 */
export class WriteBatcher<Op> {
  private pending: Pending<Op>[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** The batch being applied by an asynchronous applier, if any. */
  private inFlight: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly applier: BatchApplier<Op>,
    private readonly options: WriteBatcherOptions,
  ) {}

  /** Queues `op`; resolves with its result once the batch holding it committed. */
  enqueue<T>(op: Op): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the metadata store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length >= this.options.maxBatch && !this.inFlight) this.flushNow();
      else this.scheduled ??= setImmediate(this.scheduledFlush);
    });
  }

  /**
   * Queues `op` like `enqueue`, without a promise of its own: `settled` hears its outcome
   * (the value, or the error as a rejection would carry it). The run engine's per-step
   * writes take this path: a promise per write, with the hooks AsyncLocalStorage installs,
   * cost more than the write's own statement.
   */
  enqueueWith(op: Op, resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
    if (this.closed) return reject(new Error("the metadata store is closed"));
    this.pending.push({ op, resolve, reject });
    if (this.pending.length >= this.options.maxBatch && !this.inFlight) this.flushNow();
    else this.scheduled ??= setImmediate(this.scheduledFlush);
  }

  get size(): number {
    return this.pending.length;
  }

  private readonly scheduledFlush = (): void => {
    this.scheduled = undefined;
    if (!this.inFlight) this.flushNow();
  };

  /**
   * Commits everything queued, synchronously. Only for a synchronous applier: a read of
   * the embedded store calls it so that it sees the writes before it.
   */
  flushSync(): void {
    this.flushNow();
    if (this.inFlight) throw new Error("flushSync() needs a synchronous applier");
  }

  /** Resolves once every write queued before the call has settled (committed or rejected). */
  async barrier(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight) {
      if (this.inFlight) await this.inFlight;
      else this.flushNow();
    }
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

  /** Applies the next batch: at once when the applier is synchronous, else as the one batch in flight. */
  private flushNow(): void {
    this.cancelScheduled();
    while (this.pending.length > 0 && !this.inFlight) {
      const batch = this.take();
      let outcomes: Outcome[] | Promise<Outcome[]>;
      try {
        outcomes = this.applier.apply(batch.map((p) => p.op));
      } catch (error) {
        for (const write of batch) write.reject(error);
        continue;
      }
      if (!(outcomes instanceof Promise)) {
        settle(batch, outcomes);
        continue;
      }
      this.inFlight = outcomes.then(
        (results) => settle(batch, results),
        (error: unknown) => {
          for (const write of batch) write.reject(error);
        },
      ).finally(() => {
        this.inFlight = undefined;
        // The next batch accumulated while this one was in flight: send it now.
        if (this.pending.length > 0) this.flushNow();
      });
    }
  }
}

function settle<Op>(batch: Pending<Op>[], outcomes: Outcome[]): void {
  batch.forEach((write, i) => {
    const outcome = outcomes[i];
    if (outcome.ok) write.resolve(outcome.value);
    else write.reject(outcome.error);
  });
}
