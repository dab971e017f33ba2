import type { StepRunPatch, StepRunRecord } from "./types.js";

/**
 * Sets a patch's defined fields on a step run's record, as `UPDATE … SET` sets them on its
 * row. Objects are taken as they are: a caller that keeps the record copies what it must.
 */
export function applyStepRunPatch(record: StepRunRecord, patch: StepRunPatch): void {
  if (patch.status !== undefined) record.status = patch.status;
  if (patch.attempt !== undefined) record.attempt = patch.attempt;
  if (patch.cacheKey !== undefined) record.cacheKey = patch.cacheKey;
  if (patch.originalStepRunId !== undefined) record.originalStepRunId = patch.originalStepRunId;
  if (patch.startedAt !== undefined) record.startedAt = patch.startedAt;
  if (patch.endedAt !== undefined) record.endedAt = patch.endedAt;
  if (patch.error !== undefined) record.error = patch.error;
  if (patch.metadata !== undefined) record.metadata = patch.metadata;
  if (patch.upstream !== undefined) record.upstream = patch.upstream;
}
