import { NonDeterminismError } from "../authoring/errors.js";
import type { StepRunRecord } from "../stores/metadata/types.js";
import type { ArtifactRef } from "./launcher.js";

/** A step run a resumed run already has on record, with its outputs. */
export interface RecordedStepRun {
  record: StepRunRecord;
  outputs: { mappingKey: string | null; artifact: ArtifactRef }[];
}

/**
 * Resume replays the pipeline function against what the run recorded: the n-th step call
 * in a scope (top level or one map expansion) must be the step run recorded n-th there,
 * and a recorded invocation id must be the same step. Otherwise the replay is not
 * deterministic and stops with a NonDeterminismError naming both.
 */
export class Replay {
  private readonly byScope = new Map<string, StepRunRecord[]>();
  private readonly counters = new Map<string, number>();

  constructor(private readonly recorded: ReadonlyMap<string, RecordedStepRun> | undefined) {
    for (const { record } of recorded?.values() ?? []) {
      const scope = record.mappingKey ?? "";
      const list = this.byScope.get(scope) ?? [];
      list.push(record);
      this.byScope.set(scope, list);
    }
    for (const list of this.byScope.values()) list.sort((a, b) => a.position - b.position);
  }

  /** Checks the next call in `scope` and returns what the run recorded for it, if anything. */
  next(scope: string, invocationId: string, stepName: string): RecordedStepRun | undefined {
    if (!this.recorded) return undefined;
    const index = this.counters.get(scope) ?? 0;
    this.counters.set(scope, index + 1);
    const atPosition = this.byScope.get(scope)?.[index];
    if (atPosition && atPosition.invocationId !== invocationId) {
      throw new NonDeterminismError(atPosition.invocationId, invocationId, index);
    }
    const recorded = this.recorded.get(invocationId);
    if (recorded && recorded.record.stepName !== stepName) {
      throw new NonDeterminismError(`${invocationId} (${recorded.record.stepName})`, `${invocationId} (${stepName})`, recorded.record.position);
    }
    return recorded;
  }
}
