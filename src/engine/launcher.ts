import type { ResourceSettings } from "../authoring/resources.js";
import type { NewArtifactVersion } from "../stores/metadata/types.js";

/** A stored value as the engine and step processes pass it around. */
export interface ArtifactRef {
  id: string;
  uri: string;
  materializer: string;
  dataType: string;
  contentHash: string;
  size: number;
}

/** The reference to a stored value, from its metadata record (or a freshly produced one). */
export function artifactRefOf(v: ArtifactRef): ArtifactRef {
  return { id: v.id, uri: v.uri, materializer: v.materializer, dataType: v.dataType, contentHash: v.contentHash, size: v.size };
}

/** A step argument ready to load: a literal, (an element of) an artifact, or a list of those. */
export type ResolvedArg = { value: unknown } | { artifact: ArtifactRef; index?: number } | { list: ResolvedArg[] };

/** One attempt of one step run, as handed to a launcher. Plain JSON, so it can cross processes. */
export interface StepTask {
  runId: string;
  stepRunId: string;
  pipelineName: string;
  invocationId: string;
  stepName: string;
  /** Module that defines the step: a step process imports it to find the function. */
  module: string | undefined;
  mappingKey: string | undefined;
  attempt: number;
  args: ResolvedArg[];
  resources: ResourceSettings;
  settings: Record<string, unknown>;
  dynamicOutput: boolean;
  /** Which of the steps named `stepName` in `module` this is (two may share a name): StepDefinition.variant. */
  variant?: number;
}

/** An output a step attempt wrote to the artifact store (not yet recorded in metadata). */
export interface ProducedArtifact {
  artifact: NewArtifactVersion & { id: string };
  mappingKey: string | null;
  /** The value itself, only when the step ran in this process (saves a reload). */
  value?: unknown;
}

export interface AttemptHooks {
  /**
   * Every launcher calls this once, when the attempt really begins (for a launcher that
   * queues steps for resources: once they are granted). The step's start time and its
   * timeout count from here, not from the time spent waiting.
   */
  started(): void;
  /** Aborted when the attempt timed out or the run is being torn down. */
  signal: AbortSignal;
  /** A dynamic output item was stored: record it now so mapped steps can start (streaming). */
  onItem(item: ProducedArtifact): Promise<void>;
  onLog(stream: "stdout" | "stderr" | "log", message: string): void;
  /** Loads an input value; the engine answers from memory for values produced in its process. */
  loadArtifact(ref: ArtifactRef): Promise<unknown>;
}

export interface AttemptResult {
  /** The single output of a regular step (dynamic-output steps report items through onItem). */
  output?: ProducedArtifact;
  metadata: Record<string, unknown>;
}

/**
 * How one step attempt is run: a function call, a child process, a queue job, a pod.
 * This is the one thing (with where the engine runs) that differs between orchestrators.
 * `launch` resolves when the attempt succeeded and rejects with the step's error otherwise.
 */
export interface StepLauncher {
  /** How many attempts may run at once. */
  readonly maxParallel: number;
  launch(task: StepTask, hooks: AttemptHooks): Promise<AttemptResult>;
  /** Checks, before the run starts, that a step can ever be launched (e.g. resources fit). */
  admissible?(task: Pick<StepTask, "invocationId" | "resources">): string | undefined;
  close?(): Promise<void>;
}
