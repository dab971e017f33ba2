import { timeOrderedId } from "../../../ids.js";
import type { NewStepRun, StepCompletion, StepRunPatch, StepRunRecord, StepStatus } from "../types.js";
import { applyStepRunPatch } from "../step-run-patch.js";
import { toJson } from "./rows.js";

const FINAL = new Set<StepStatus>(["completed", "cached", "failed", "skipped"]);

function isEmpty(record: object): boolean {
  for (const _key in record) return false;
  return true;
}

/** Configurations the engine passes again and again (one object per step definition): serialized once. */
const configurationJson = new WeakMap<object, string>();

function serializedConfiguration(configuration: unknown): string | null {
  if (configuration === undefined) return null;
  if (typeof configuration !== "object" || configuration === null) return toJson(configuration);
  let json = configurationJson.get(configuration);
  if (json === undefined) configurationJson.set(configuration, (json = toJson(configuration)));
  return json;
}

/**
 * A step run row waiting in a write batch to be inserted. Writes about the same step run
 * that come later in the same batch (its start, its completion, a patch) change this row
 * instead of adding an UPDATE: the batch commits as one transaction, so nobody can see the
 * difference, and a step that starts and ends within one batch (an in-process step, most of
 * all) costs one row write instead of three. Values are taken when each write is made, as
 * an UPDATE of its own would take them.
 */
export class StepRunInsert {
  readonly record: StepRunRecord;
  /** The configuration as stored (JSON text), for a dynamic run's step run. */
  readonly configuration: string | null;
  private upstreamJson: string;
  private readonly parametersJson: string;
  private metadataJson = "{}";
  constructor(
    stepRun: NewStepRun,
    /** Called when the row leaves the batch (`op()`): writes after that are statements of their own. */
    private readonly onCommit?: () => void,
    createdAt = Date.now(),
  ) {
    const status = stepRun.status ?? "pending";
    // A step run created as running has started its first attempt now.
    const started = status === "running";
    this.record = {
      id: stepRun.id ?? timeOrderedId(),
      runId: stepRun.runId,
      invocationId: stepRun.invocationId,
      stepName: stepRun.stepName,
      status,
      attempt: started ? 1 : 0,
      mappingKey: stepRun.mappingKey ?? null,
      cacheKey: null,
      originalStepRunId: null,
      position: stepRun.position,
      upstream: stepRun.upstream,
      parameters: stepRun.parameters,
      createdAt,
      startedAt: started ? createdAt : null,
      endedAt: null,
      error: null,
      metadata: {},
      seq: 0,
    };
    this.upstreamJson = toJson(stepRun.upstream);
    this.parametersJson = toJson(stepRun.parameters);
    this.configuration = serializedConfiguration(stepRun.configuration);
  }

  get id(): string {
    return this.record.id;
  }

  /** Sets the patch's defined fields, as `UPDATE … SET` would. */
  patch(patch: StepRunPatch): void {
    applyStepRunPatch(this.record, patch);
    if (patch.metadata !== undefined) this.metadataJson = toJson(patch.metadata);
    if (patch.upstream !== undefined) this.upstreamJson = toJson(patch.upstream);
  }

  /**
   * Applies a completion when its fence holds (as the store's fenced UPDATE decides: no
   * later attempt recorded, not final yet); false, changing nothing, when it does not.
   */
  complete(completion: StepCompletion): boolean {
    const { attempt } = completion;
    const r = this.record;
    if (attempt !== undefined && (r.attempt > attempt || FINAL.has(r.status))) return false;
    // completionPatch's fields, set directly (this is the per-step path).
    if (completion.started) {
      if (completion.attempt !== undefined) r.attempt = completion.attempt;
      r.startedAt = completion.started.startedAt;
      r.error = null;
      if (completion.started.upstream) this.patch({ upstream: completion.started.upstream });
    }
    r.status = completion.status;
    r.endedAt = completion.endedAt;
    if (completion.cacheKey !== undefined) r.cacheKey = completion.cacheKey;
    if (completion.originalStepRunId !== undefined) r.originalStepRunId = completion.originalStepRunId;
    if (completion.metadata !== undefined) {
      r.metadata = completion.metadata;
      this.metadataJson = isEmpty(completion.metadata) ? "{}" : toJson(completion.metadata);
    }
    return true;
  }

  /** The row as it is now, as the SQLite store's insert op (its seq is taken when it is applied). */
  op(): { op: "stepRun"; values: unknown[] } {
    this.onCommit?.();
    return { op: "stepRun", values: this.values(0) };
  }

  /** The row's values in the column order of the stores' step-run INSERT. */
  values(seq: number): unknown[] {
    const r = this.record;
    r.seq = seq;
    return [
      r.id, r.runId, r.invocationId, r.stepName, r.status, r.attempt, r.mappingKey, r.cacheKey, r.originalStepRunId,
      r.position, this.upstreamJson, this.parametersJson, r.createdAt, r.startedAt, r.endedAt, r.error, this.metadataJson,
      seq, this.configuration,
    ];
  }
}
