import type { ResourceSettings } from "../authoring/resources.js";
import type { StepDefinition } from "../authoring/step.js";
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
  /**
   * The step's time limit, which the engine enforces counting from `started`. Set only when
   * there is one: a launcher that reports starts lazily reports this attempt's at once.
   */
  timeoutMs?: number;
}

/**
 * A task as launchers record it for a process started elsewhere (`saveStepTask`): the
 * module relative to the project root, and the artifact store its outputs go to, as the
 * component (flavor, name, config) that process rebuilds it from.
 */
export interface StoredStepTask extends StepTask {
  artifactStore?: { flavor: string; name: string; config: Record<string, unknown> };
  /** The project root `module` is relative to, on the machine that recorded it (a fallback; see config/project.ts). */
  projectRoot?: string;
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
  /**
   * A launcher that holds attempts (queue: no live worker can give the resources) says why,
   * or `undefined` once that no longer holds; kept in the step run's `metadata.waiting`.
   */
  onWaiting?(reason: string | undefined): void;
  /** Loads an input value; the engine answers from memory for values produced in its process. */
  loadArtifact(ref: ArtifactRef): Promise<unknown>;
  /**
   * An input value this process holds in memory (produced here), without waiting; else
   * NOT_IN_MEMORY. Lets an in-process attempt whose inputs are all here run synchronously.
   */
  inMemory?(ref: ArtifactRef): unknown;
  /** The step itself, when the engine runs in this process: an in-process launcher need not look it up by name. */
  readonly step?: StepDefinition;
}

/** `AttemptHooks.inMemory`'s answer for a value that must be loaded. */
export const NOT_IN_MEMORY: unique symbol = Symbol("not in memory");

export interface AttemptResult {
  /** The single output of a regular step (dynamic-output steps report items through onItem). */
  output?: ProducedArtifact;
  metadata: Record<string, unknown>;
}

/**
 * How one step attempt is run: a function call, a child process, a queue job, a pod.
 * This is the one thing (with where the engine runs) that differs between orchestrators.
 * `launch` resolves when the attempt succeeded and rejects with the step's error otherwise.
 * A launcher whose attempt ran to its end within the call (an in-process function call) may
 * return the result itself, or throw the step's error: no promise is made then.
 */
export interface StepLauncher {
  /** How many attempts may run at once. */
  readonly maxParallel: number;
  launch(task: StepTask, hooks: AttemptHooks): AttemptResult | Promise<AttemptResult>;
  /**
   * Resume: attempt `task.attempt` was started by an earlier driver of the run, which ended
   * before recording its outcome. A launcher whose attempts outlive that driver (queue jobs,
   * pods) follows the attempt if it is still alive, so it is not run a second time: its
   * reports reach `hooks` as a launched attempt's do, and it resolves to its result (or
   * rejects with its error). It resolves `undefined` when the attempt is not alive; the
   * engine then launches the next attempt. Launchers whose attempts end with their driver
   * (in-process, local_process) leave it out.
   */
  adopt?(task: StepTask, hooks: AttemptHooks): Promise<AttemptResult | undefined>;
  /** Checks, before the run starts, that a step can ever be launched (e.g. resources fit). */
  admissible?(task: Pick<StepTask, "invocationId" | "resources">): string | undefined;
  close?(): Promise<void>;
}

/**
 * How an attempt that runs in another process (a step process, a queue worker, a pod)
 * reports back to the launcher that started it. The engine stays the only writer of run
 * and step-run rows: the attempt writes its outputs to the artifact store and sends
 * everything else through its channel (IPC for local_process, the `weir step` stdout
 * protocol, a queue's job progress and return value).
 */
export interface AttemptChannel {
  /** The attempt really began (inputs are about to load). */
  started(): void;
  /** A dynamic output item is stored; resolves once the launcher recorded it, when the channel can tell. */
  item(produced: ProducedArtifact): Promise<void>;
  /** A log line of the step; channels whose stdout/stderr reach the launcher anyway carry `log` lines only. */
  log(stream: "stdout" | "stderr" | "log", message: string): void;
  /** The attempt succeeded: its outcome (artifact references only, no values). */
  result(result: AttemptResult): Promise<void>;
  /** The attempt failed (`uncaught`: an exception escaped the step, e.g. from a timer). */
  error(error: unknown, options?: { uncaught?: boolean }): Promise<void>;
}

/** A produced artifact without its in-memory value, which stays in the process that made it. */
export function withoutValue(produced: ProducedArtifact): ProducedArtifact {
  return { artifact: produced.artifact, mappingKey: produced.mappingKey };
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: "Error", message: String(error) };
}

export function reviveError(serialized: SerializedError): Error {
  const error = new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.stack) error.stack = serialized.stack;
  return error;
}
