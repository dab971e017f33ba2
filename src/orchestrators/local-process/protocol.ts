import type { AttemptResult, ProducedArtifact } from "../../engine/launcher.js";

/**
 * The IPC messages between the launcher (parent) and a step process (child).
 * Values never cross: the child writes outputs to the artifact store and reports only
 * their references, so `ProducedArtifact.value` is always absent here.
 */

/** Where the child finds the artifact store (the stack's store, re-opened by flavor). */
export interface ArtifactStoreConfig {
  flavor: string;
  name: string;
  root: string;
  config: Record<string, unknown>;
}

/** Which attempt of which step run to run; the task itself is read from the metadata store. */
export interface StartMessage {
  type: "start";
  stepRunId: string;
  attempt: number;
  artifactStore: ArtifactStoreConfig;
}

/** Answers an `item` message once the engine recorded it (or could not). */
export interface AckMessage {
  type: "ack";
  error?: string;
}

export type ParentMessage = StartMessage | AckMessage;

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type ChildMessage =
  /** A `getStepContext().log(...)` line (stdout/stderr travel through the pipes). */
  | { type: "log"; message: string }
  /** A dynamic output item was stored; the child waits for the ack before going on. */
  | { type: "item"; item: ProducedArtifact }
  | { type: "result"; result: AttemptResult }
  /** The step threw (`uncaught`: an exception escaped the step, e.g. from a timer). */
  | { type: "error"; error: SerializedError; uncaught?: boolean };

/** A produced artifact without its in-memory value, which stays in the child. */
export function withoutValue(produced: ProducedArtifact): ProducedArtifact {
  return { artifact: produced.artifact, mappingKey: produced.mappingKey };
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
