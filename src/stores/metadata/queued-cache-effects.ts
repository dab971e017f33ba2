import type { StepRunPatch } from "./types.js";

/** What the tracker needs of a WriteBatcher: writes are numbered in queue order and settle in that order. */
interface WriteCounts {
  readonly queuedCount: number;
  readonly settledCount: number;
}

/** Entries kept before settled ones are swept (they are only looked up while their writes are queued). */
const SWEEP_AT = 4096;

/**
 * Which queued (not yet committed) writes could change what `findCachedStepRun(key)` answers.
 *
 * With the cache on, every step looks its key up before it runs. A read normally commits
 * the writes queued before it first (reads see earlier writes), which here meant a commit
 * per step, and split each step run's row into an insert and an update (the one-row write
 * needs the creation and the completion in one batch). A store that tracks its queued
 * step-run writes here answers a lookup from what is committed, and waits for the queued
 * writes only when one of them could change the answer — so the answer is the one a read
 * after a commit would give:
 * - a queued write that gives a step run this cache key (a completion, or a patch);
 * - a queued write that completes a step run without saying its key (its stored key might
 *   be this one), or that deletes runs;
 * - a queued write to the step run the committed state answers with (it may stop being
 *   completed, or change); step runs that are not the answer do not change which is.
 */
export class QueuedCacheEffects {
  /** Cache key → the number of the last queued write that sets it. */
  private readonly keys = new Map<string, number>();
  /** Step run id → the number of the last queued write to it. */
  private readonly stepRuns = new Map<string, number>();
  /** The number of the last queued write that could change any lookup's answer. */
  private lastForAll = 0;
  private sweepAt = SWEEP_AT;

  constructor(private readonly writes: WriteCounts) {}

  /** A write about step run `id` was just queued (call right after queuing it; a creation needs no call). */
  stepRunWritten(id: string, patch?: Pick<StepRunPatch, "status" | "cacheKey">): void {
    const write = this.writes.queuedCount;
    if (this.stepRuns.size >= this.sweepAt) this.sweep();
    this.stepRuns.set(id, write);
    if (!patch || (patch.status !== undefined && patch.status !== "completed")) return;
    // Completed (or already so) with this key: a match. Completed without a key: its stored key might match.
    if (typeof patch.cacheKey === "string") this.keys.set(patch.cacheKey, write);
    else if (patch.status === "completed" && patch.cacheKey === undefined) this.lastForAll = write;
  }

  /** A write that may remove step runs (deleting a run) was just queued. */
  stepRunsRemoved(): void {
    this.lastForAll = this.writes.queuedCount;
  }

  /** Whether a queued write could make a step run match `cacheKey` (the lookup must wait for it). */
  mayAddMatch(cacheKey: string): boolean {
    const settled = this.writes.settledCount;
    return this.lastForAll > settled || (this.keys.get(cacheKey) ?? 0) > settled;
  }

  /** Whether a queued write could change step run `id` (an answer read from committed state must wait for it). */
  mayChange(id: string): boolean {
    return (this.stepRuns.get(id) ?? 0) > this.writes.settledCount;
  }

  private sweep(): void {
    const settled = this.writes.settledCount;
    for (const [id, write] of this.stepRuns) if (write <= settled) this.stepRuns.delete(id);
    for (const [key, write] of this.keys) if (write <= settled) this.keys.delete(key);
    // Writes queued faster than they settle: sweep again only once the maps have doubled.
    this.sweepAt = Math.max(SWEEP_AT, this.stepRuns.size * 2);
  }
}
