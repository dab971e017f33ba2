// The JSON shapes of the server's API (`/api/…`). The dashboard imports these types only.
// Times are milliseconds since the epoch, as in the metadata store.
import type { ArtifactVersionRecord, ComponentRecord, LogLine, RunStatus, ScheduleRecord, StepStatus } from "../stores/metadata/types.js";

export type { RunStatus, StepStatus, LogLine };

export interface ApiRun {
  id: string;
  name: string;
  pipelineName: string;
  status: RunStatus;
  isDynamic: boolean;
  stackName: string;
  /** The pipeline snapshot it executes (`/api/snapshots/:id`). */
  snapshotId: string;
  orchestratorRunId: string | null;
  /** Runs a schedule started: its name and the planned tick. */
  scheduleName: string | null;
  scheduledFor: number | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  error: string | null;
  fingerprint: string | null;
  /** False when the run says `running` but its driving process is gone. */
  alive: boolean;
  stepCounts: Partial<Record<StepStatus, number>>;
  stepTotal: number;
}

export interface ApiStepRun {
  id: string;
  /** The invocation id: `train`, `train_2`, `process_file[a_txt]`. */
  name: string;
  stepName: string;
  status: StepStatus;
  attempt: number;
  mappingKey: string | null;
  position: number;
  upstream: string[];
  parameters: Record<string, unknown>;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  error: string | null;
  cacheKey: string | null;
  originalStepRunId: string | null;
  metadata: Record<string, unknown>;
}

export interface ApiRunDetail {
  run: ApiRun;
  steps: ApiStepRun[];
  /** The pipeline's return value, step outputs as `{ "$artifact": versionId }` references. */
  output: unknown;
  /** The pipeline parameters the run was submitted with (validated by its schema, if any). */
  parameters: Record<string, unknown>;
}

export interface ApiPage<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

export type ApiArtifact = Omit<ArtifactVersionRecord, "uri"> & {
  /** The step run that produced it, when its name says so (`pipeline::invocation::output`). */
  producer: { invocationId: string; outputName: string } | null;
};

export interface ApiStepDetail extends ApiStepRun {
  runId: string;
  configuration: unknown;
  resources: Record<string, unknown> | null;
  /** Failed attempts with their errors (recorded when the step run finally failed). */
  attempts: { attempt: number; error: string }[];
  durationMs: number | null;
  inputs: { name: string; artifact: ApiArtifact }[];
  outputs: { name: string; mappingKey: string | null; artifact: ApiArtifact }[];
}

export type ApiPreview =
  | { kind: "json"; value: unknown }
  | { kind: "table"; columns: string[]; rows: Record<string, unknown>[]; total: number }
  | { kind: "text"; text: string; truncated: boolean }
  | { kind: "image"; mime: "image/png" | "image/jpeg"; contentUrl: string }
  | { kind: "unavailable"; reason: string };

export interface ApiRunDiff {
  a: ApiRun;
  b: ApiRun;
  sameFingerprint: boolean;
  onlyA: string[];
  onlyB: string[];
  changed: { name: string; a: string[]; b: string[] }[];
  statusChanged: { name: string; a: StepStatus; b: StepStatus }[];
  common: number;
}

export type ApiComponent = Pick<ComponentRecord, "type" | "name" | "flavor" | "config">;

export interface ApiStack {
  name: string;
  active: boolean;
  createdAt: number;
  components: ApiComponent[];
}

/** What `weir status` shows of a server: the home and store it reads (password redacted). */
export interface ApiStatus {
  home: string;
  metadataStore: string;
  activeStack: string;
  components: ApiComponent[];
  runs: number;
}

/** One SSE `change` event of `/api/runs/:id/events`. */
export interface ApiRunChange {
  run: ApiRun;
  steps: ApiStepRun[];
}

/** A schedule (times in ms) with the newest runs it started. */
export interface ApiSchedule extends ScheduleRecord {
  recentRuns: ApiRun[];
}
