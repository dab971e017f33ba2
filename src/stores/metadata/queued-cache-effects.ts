import type { StepRunPatch } from "./types.js";

/** What the tracker needs of a WriteBatcher: writes are numbered in queue order and settle in that order. */
interface WriteCounts {
  readonly queuedCount: number;
  readonly settledCount: number;
}

/** Entries kept before settled ones are swept (they are only looked up while their writes are queued). */
const SWEEP_AT = 4096;

/**
 * Which queued (not yet committed) writes could change what the reads of a cache lookup
 * answer: `findCachedStepRun(key)`, then, on a hit, the original's outputs and versions.
 *
 * With the cache on, every step looks its key up before it runs. A read normally commits
 * the writes queued before it first (reads see earlier writes), which here meant a commit
 * per step, and split each step run's row into an insert and an update (the one-row write
 * needs the creation and the completion in one batch). A store that tracks its queued
 * step-run writes here answers these reads from what is committed, and waits for the
 * queued writes only when one of them could change the answer — so the answer is the one
 * a read after a commit would give:
 * - a queued write that gives a step run this cache key (a completion, or a patch);
 * - a queued write that completes a step run without saying its key (its stored key might
 *   be this one);
 * - a queued write to the step run the committed state answers with (it may stop being
 *   completed, change, or get outputs); step runs that are not the answer do not change
 *   which is;
 * - a queued deletion of runs (it removes step runs, their links and versions).
 */
export class QueuedCacheEffects {
  /** Cache key → the number of the last queued write that sets it. */
  private readonly keys = new Map<string, number>();
  /** Step run id → the number of the last queued write to it or its outputs. */
  private readonly stepRuns = new Map<string, number>();
  /** The number of the last queued completion that does not say its key. */
  private lastKeyless = 0;
  /** The number of the last queued write that removes step runs (deleting a run). */
  private lastRemoval = 0;
  private sweepAt = SWEEP_AT;

  constructor(private readonly writes: WriteCounts) {}

  /**
   * A write about step run `id` (a patch, a completion, an output) was just queued: call
   * right after queuing it. A creation needs no call (a new step run has no cache key).
   */
  stepRunWritten(id: string, patch?: Pick<StepRunPatch, "status" | "cacheKey">): void {
    const write = this.writes.queuedCount;
    if (this.stepRuns.size >= this.sweepAt) this.sweep();
    this.stepRuns.set(id, write);
    if (!patch || (patch.status !== undefined && patch.status !== "completed")) return;
    // Completed (or already so) with this key: a match. Completed without a key: its stored key might match.
    if (typeof patch.cacheKey === "string") this.keys.set(patch.cacheKey, write);
    else if (patch.status === "completed" && patch.cacheKey === undefined) this.lastKeyless = write;
  }

  /** A write that removes step runs, their links and versions (deleting a run) was just queued. */
  stepRunsRemoved(): void {
    this.lastRemoval = this.writes.queuedCount;
  }

  /** Whether a queued write could make a step run match `cacheKey` (the lookup must wait for it). */
  mayAddMatch(cacheKey: string): boolean {
    const settled = this.writes.settledCount;
    return this.lastKeyless > settled || (this.keys.get(cacheKey) ?? 0) > settled;
  }

  /** Whether a queued write could change step run `id` or its outputs (a read of them must wait for it). */
  mayChange(id: string): boolean {
    const settled = this.writes.settledCount;
    return this.lastRemoval > settled || (this.stepRuns.get(id) ?? 0) > settled;
  }

  /** Whether a queued write could remove what is committed (an artifact version, once written, changes no other way). */
  mayRemove(): boolean {
    return this.lastRemoval > this.writes.settledCount;
  }

  private sweep(): void {
    const settled = this.writes.settledCount;
    for (const [id, write] of this.stepRuns) if (write <= settled) this.stepRuns.delete(id);
    for (const [key, write] of this.keys) if (write <= settled) this.keys.delete(key);
    // Writes queued faster than they settle: sweep again only once the maps have doubled.
    this.sweepAt = Math.max(SWEEP_AT, this.stepRuns.size * 2);
  }
}
