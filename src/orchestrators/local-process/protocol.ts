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

export type ParentMessage = AckMessage;

export type ChildMessage =
  /** A `getStepContext().log(...)` line (stdout/stderr travel through the pipes). */
  | { type: "log"; message: string }
  /** A dynamic output item was stored; the child waits for the ack before going on. */
  | { type: "item"; item: ProducedArtifact }
  | { type: "result"; result: AttemptResult }
  /** The step threw (`uncaught`: an exception escaped the step, e.g. from a timer). */
  | { type: "error"; error: SerializedError; uncaught?: boolean };
