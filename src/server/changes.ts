import type { MetadataStore, StepRunRecord } from "../stores/metadata/types.js";

/** The store's change cursor (migration 3); older stores lack it and are polled instead. */
type ChangeFeed = {
  listStepRunChanges?(runId: string, afterSeq: number, limit?: number): Promise<{ stepRuns: StepRunRecord[]; seq: number }>;
};

/** Where a reader of one run's changes stands: the store's seq, or (without one) what it has seen. */
export interface ChangeCursor {
  seq: number;
  /** Polling fallback only: step run id → the fields whose change is worth sending. */
  seen: Map<string, string>;
}

export function newCursor(): ChangeCursor {
  return { seq: 0, seen: new Map() };
}

const PAGE = 2_000;

/**
 * The step runs of a run that changed since the cursor (all of them on the first call), and
 * moves the cursor. Uses the store's `listStepRunChanges` when it has one (a cheap indexed
 * read, works while another process or machine drives the run); otherwise lists the run's
 * step runs and diffs them against what this cursor saw.
 */
export async function readStepRunChanges(store: MetadataStore, runId: string, cursor: ChangeCursor): Promise<StepRunRecord[]> {
  const feed = store as MetadataStore & ChangeFeed;
  if (typeof feed.listStepRunChanges === "function") {
    const changed: StepRunRecord[] = [];
    for (;;) {
      const page = await feed.listStepRunChanges(runId, cursor.seq, PAGE);
      changed.push(...page.stepRuns);
      cursor.seq = page.seq;
      if (page.stepRuns.length < PAGE) return changed;
    }
  }
  const changed: StepRunRecord[] = [];
  for (const stepRun of await store.listStepRuns(runId)) {
    const signature = `${stepRun.status}|${stepRun.attempt}|${stepRun.startedAt}|${stepRun.endedAt}|${stepRun.upstream.length}`;
    if (cursor.seen.get(stepRun.id) === signature) continue;
    cursor.seen.set(stepRun.id, signature);
    changed.push(stepRun);
  }
  return changed;
}
