import type { AttemptResult, ProducedArtifact, SerializedError } from "../../engine/launcher.js";

export { reviveError, serializeError, withoutValue, type SerializedError } from "../../engine/launcher.js";

/**
 * The IPC messages between the launcher (parent) and a step process (child). The child is
 * started as `entrypoints/step.js STEP_RUN_ID --attempt N` (what `weir step` runs) and reads
 * its task from the metadata store. Values never cross: the child writes outputs to the
 * artifact store and reports only their references, so `ProducedArtifact.value` is always
 * absent here.
 */

/** Answers an `item` message once the engine recorded it (or could not). */
export interface AckMessage {
  type: "ack";
  error?: string;
}

/**
 * To a process forked ahead (`step.js --warm`, the launcher's warm pool): the one attempt it
 * runs, and the environment variables that differ from the ones it was forked with (`null`:
 * unset), applied before anything reads them (before the step's module is imported). `task`
 * is the attempt's task as the launcher recorded it in the metadata store (JSON text, as the
 * store keeps it), so the process need not open the store to read it back.
 */
export interface AssignMessage {
  type: "assign";
  stepRunId: string;
  attempt: number;
  env: Record<string, string | null>;
  task?: string;
}

export type ParentMessage = AckMessage | AssignMessage;

export type ChildMessage =
  /** A process forked ahead has booted and waits for its attempt (`assign`). */
  | { type: "ready" }
  /** A `getStepContext().log(...)` line (stdout/stderr travel through the pipes). */
  | { type: "log"; message: string }
  /** A dynamic output item was stored; the child waits for the ack before going on. */
  | { type: "item"; item: ProducedArtifact }
  | { type: "result"; result: AttemptResult }
  /** The step threw (`uncaught`: an exception escaped the step, e.g. from a timer). */
  | { type: "error"; error: SerializedError; uncaught?: boolean };
