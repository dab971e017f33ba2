/**
 * Every error a user can meet is its own exported class with a message that names the
 * step, pipeline or orchestrator concerned, so that tests and callers can tell them apart.
 */
export class WeirError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A step definition is invalid (bad name, bad settings, bad options). */
export class StepDefinitionError extends WeirError {}

/** A pipeline definition is invalid. */
export class PipelineDefinitionError extends WeirError {}

/** A step was called with an argument that cannot be a parameter (not JSON-serializable). */
export class StepArgumentError extends WeirError {}

/** A static pipeline tried to use a step output's value at definition time. */
export class StaticPipelineValueError extends WeirError {}

/** A dynamic handle was used as a plain value (comparison, string conversion) instead of awaited. */
export class HandleValueError extends WeirError {}

/** The stack's orchestrator cannot run this kind of pipeline. */
export class OrchestratorNotSupportedError extends WeirError {}

/** `step.map` / `.product` got inputs it cannot fan out over. */
export class MapInputError extends WeirError {}

/** A DynamicOutput's mapping key is malformed or repeated. */
export class MappingKeyError extends WeirError {}

/** A step returned a value that no materializer can store. */
export class MaterializerError extends WeirError {}

/** A stack or component name is unknown or a stack is misconfigured. */
export class StackError extends WeirError {}

/** An artifact store is misconfigured, unreachable, or cannot be found for an artifact; the message names the store. */
export class ArtifactStoreError extends WeirError {}
/** A schedule is misconfigured (cron expression, timezone, policy) or unknown. */
export class ScheduleError extends WeirError {}

/** A run id does not exist, or cannot be resumed. */
export class RunNotFoundError extends WeirError {}
export class ResumeError extends WeirError {}
/** Another live process drives the run (holds its lease): it cannot be driven from here now. */
export class RunLeaseError extends ResumeError {}
/** A run was given a name (`runName`) that another run already has. */
export class RunNameTakenError extends WeirError {}

/** A replayed dynamic pipeline asked for a different step than the one recorded at that position. */
export class NonDeterminismError extends WeirError {
  constructor(
    readonly recorded: string,
    readonly replayed: string,
    readonly position: number,
  ) {
    super(
      `non-deterministic pipeline: at position ${position} the recorded run has step "${recorded}" ` +
        `but the replay asked for "${replayed}"; a resumed pipeline must call the same steps in the same order`,
    );
  }
}

/** A step asks for more CPUs, memory or GPUs than its orchestrator can ever give it. */
export class ResourceRequestError extends WeirError {}

/** A step attempt ran longer than its `timeoutMs`. */
export class StepTimeoutError extends WeirError {}

/** A step could not run because a step it depends on failed or was skipped. */
export class UpstreamFailedError extends WeirError {
  constructor(
    readonly invocationId: string,
    readonly upstream: string,
  ) {
    super(`step "${invocationId}" did not run because its upstream step "${upstream}" failed`);
  }
}

/** The error a failed step's handle rejects with, and the cause of a failed run. */
export class StepFailedError extends WeirError {
  constructor(
    readonly invocationId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`step "${invocationId}" failed: ${message}`, options);
  }
}

/**
 * Pipeline parameters do not match the pipeline's `params` schema: thrown when the run is
 * submitted, before anything is recorded. `parameter` is the first offending one (dotted
 * for nested values, "" for the whole object) and `problem` what was wrong with it.
 */
export class PipelineParameterError extends WeirError {
  constructor(
    readonly pipelineName: string,
    readonly parameter: string,
    readonly problem: "missing" | "unknown" | "invalid",
    message: string,
  ) {
    super(message);
  }
}

/** Thrown by calling a pipeline (and `p.run` never throws it) when the run ends `failed`. */
export class PipelineRunFailedError extends WeirError {
  constructor(
    readonly runId: string,
    readonly failedSteps: string[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
