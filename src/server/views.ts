import { isAlive } from "../stores/metadata/liveness.js";
import type { MetadataStore, RunRecord, StepRunRecord, StepStatus } from "../stores/metadata/types.js";
import type { ApiRun, ApiRunDiff, ApiStepRun } from "./types.js";

type StepCounts = Partial<Record<StepStatus, number>>;

export function countSteps(steps: readonly { status: StepStatus }[]): StepCounts {
  const counts: StepCounts = {};
  for (const s of steps) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

export function toApiRun(run: RunRecord, stepCounts: StepCounts, now = Date.now()): ApiRun {
  const finished = run.status === "completed" || run.status === "failed";
  const end = run.endedAt ?? (finished ? null : now);
  return {
    id: run.id,
    name: run.name,
    pipelineName: run.pipelineName,
    status: run.status,
    isDynamic: run.isDynamic,
    stackName: run.stackName,
    snapshotId: run.snapshotId,
    orchestratorRunId: run.orchestratorRunId,
    scheduleName: run.scheduleName ?? null,
    scheduledFor: run.scheduledFor ?? null,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    durationMs: run.startedAt !== null && end !== null ? end - run.startedAt : null,
    error: run.error,
    fingerprint: run.fingerprint,
    alive: isAlive(run, now),
    stepCounts,
    stepTotal: Object.values(stepCounts).reduce((a, b) => a + (b ?? 0), 0),
  };
}

export function toApiStepRun(s: StepRunRecord): ApiStepRun {
  return {
    id: s.id,
    name: s.invocationId,
    stepName: s.stepName,
    status: s.status,
    attempt: s.attempt,
    mappingKey: s.mappingKey,
    position: s.position,
    upstream: s.upstream,
    parameters: s.parameters,
    createdAt: s.createdAt,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    error: s.error,
    cacheKey: s.cacheKey,
    originalStepRunId: s.originalStepRunId,
    metadata: s.metadata,
  };
}

/** Store-side summaries (one query) when the store has them, else one step-run read per run. */
type Summaries = {
  listRunSummaries?(filter: object): Promise<(RunRecord & { stepCounts: StepCounts })[]>;
};

export async function runSummaries(store: MetadataStore, runs: RunRecord[]): Promise<ApiRun[]> {
  const now = Date.now();
  return Promise.all(runs.map(async (r) => toApiRun(r, countSteps(await store.listStepRuns(r.id)), now)));
}

export async function listRunRecords(
  store: MetadataStore,
  filter: { pipeline?: string; status?: RunRecord["status"] },
): Promise<{ runs: RunRecord[]; counts?: Map<string, StepCounts> }> {
  const withSummaries = store as MetadataStore & Summaries;
  const query = { pipelineName: filter.pipeline, status: filter.status, limit: 100_000 };
  if (typeof withSummaries.listRunSummaries === "function") {
    const summaries = await withSummaries.listRunSummaries(query);
    return { runs: summaries, counts: new Map(summaries.map((s) => [s.id, s.stepCounts])) };
  }
  return { runs: await store.listRuns(query) };
}

/** Where two runs' executed graphs diverge (the view of `weir runs diff`). */
export function diffRuns(a: ApiRun, aSteps: ApiStepRun[], b: ApiRun, bSteps: ApiStepRun[]): ApiRunDiff {
  const byName = (steps: ApiStepRun[]) => new Map(steps.map((s) => [s.name, s]));
  const inA = byName(aSteps);
  const inB = byName(bSteps);
  const sorted = (s: ApiStepRun) => [...s.upstream].sort();
  const onlyA = [...inA.keys()].filter((n) => !inB.has(n));
  const onlyB = [...inB.keys()].filter((n) => !inA.has(n));
  const changed: ApiRunDiff["changed"] = [];
  const statusChanged: ApiRunDiff["statusChanged"] = [];
  let common = 0;
  for (const [name, sa] of inA) {
    const sb = inB.get(name);
    if (!sb) continue;
    common++;
    if (sorted(sa).join("\u0000") !== sorted(sb).join("\u0000")) changed.push({ name, a: sorted(sa), b: sorted(sb) });
    if (sa.status !== sb.status) statusChanged.push({ name, a: sa.status, b: sb.status });
  }
  return { a, b, sameFingerprint: a.fingerprint !== null && a.fingerprint === b.fingerprint, onlyA, onlyB, changed, statusChanged, common };
}
