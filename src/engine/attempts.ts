import { errorMessage, StepTimeoutError } from "../authoring/errors.js";
import type { StepContext } from "../authoring/context.js";
import type { RetryPolicy } from "../authoring/step.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask } from "./launcher.js";

// How one step run's attempts go: the retry loop with its backoff, the timeout of one
// attempt, and the hooks. No graph and no store here: the engine records what happens.

/** The signal of an attempt that cannot time out: it never aborts. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * The retry rules of one step run: after each failed attempt, `next()` says how long to
 * wait before the next one, or `undefined` when that was the last (the policy is spent or
 * the run is stopping). A plain object, not a loop around a callback: the engine's loop
 * stays free of extra promises on the per-step hot path.
 */
export class RetrySchedule {
  private tries = 0;
  private delayMs: number;
  private readonly maxAttempts: number;

  constructor(private readonly policy: RetryPolicy | undefined) {
    this.maxAttempts = 1 + (policy?.maxRetries ?? 0);
    this.delayMs = policy?.delayMs ?? 0;
  }

  /** Called once per failed attempt. */
  next(stopping = false): number | undefined {
    this.tries += 1;
    if (this.tries >= this.maxAttempts || stopping) return undefined;
    const delay = this.delayMs;
    this.delayMs *= this.policy?.backoff ?? 1;
    return delay;
  }
}

/**
 * Launches one attempt. A timeout counts from when the launcher starts the attempt
 * (`started`), not while it waits for resources; a timed-out attempt is abandoned (its
 * signal aborts, its late result is ignored) and fails with a StepTimeoutError. Without a
 * timeout the launcher's answer is passed through as it is: a launcher that ran the attempt
 * within the call returns its result (or throws), and no promise is made.
 */
export function launchAttempt(
  launcher: StepLauncher,
  task: StepTask,
  hooks: AttemptHooks,
  timeoutMs: number | undefined,
): AttemptResult | Promise<AttemptResult> {
  if (timeoutMs === undefined) return launcher.launch(task, hooks);
  return withTimeout((t, h) => launcher.launch(t, h), task, hooks, timeoutMs);
}

/**
 * Resume: follows an attempt an earlier driver of the run started, if the launcher can and
 * the attempt is still alive (`StepLauncher.adopt`); resolves `undefined` when it is not, and
 * the caller launches a new attempt. The timeout counts from the adoption.
 */
export function adoptAttempt(
  launcher: StepLauncher,
  task: StepTask,
  hooks: AttemptHooks,
  timeoutMs: number | undefined,
): Promise<AttemptResult | undefined> {
  if (!launcher.adopt) return Promise.resolve(undefined);
  if (timeoutMs === undefined) return launcher.adopt(task, hooks);
  return withTimeout((t, h) => launcher.adopt!(t, h), task, hooks, timeoutMs);
}

function withTimeout<R>(
  start: (task: StepTask, hooks: AttemptHooks) => R | Promise<R>,
  task: StepTask,
  hooks: AttemptHooks,
  timeoutMs: number,
): Promise<R> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let timedOut: (error: Error) => void = () => undefined;
  // The attempt sees the engine's hooks with a signal of its own and a start that arms the timer.
  const timed: AttemptHooks = {
    started: () => {
      hooks.started();
      timer = setTimeout(() => {
        const error = new StepTimeoutError(`step "${task.invocationId}" timed out after ${timeoutMs} ms (attempt ${task.attempt})`);
        controller.abort(error);
        timedOut(error);
      }, timeoutMs);
    },
    signal: controller.signal,
    onItem: (item) => hooks.onItem(item),
    onLog: (stream, message) => hooks.onLog(stream, message),
    onWaiting: (reason) => hooks.onWaiting?.(reason),
    loadArtifact: (ref) => hooks.loadArtifact(ref),
    inMemory: hooks.inMemory && ((ref) => hooks.inMemory!(ref)),
    step: hooks.step,
  };
  let attempt: Promise<R>;
  try {
    attempt = Promise.resolve(start(task, timed));
  } catch (error) {
    attempt = Promise.reject(error);
  }
  const timeout = new Promise<never>((_, reject) => (timedOut = reject));
  return Promise.race([attempt, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs a step's `onSuccess`/`onFailure` hook. A failing hook does not change the step's
 * outcome: its error is returned (for the record), never thrown.
 */
export async function runStepHook(
  fn: ((context: StepContext, error: Error) => unknown) | ((context: StepContext) => unknown),
  context: StepContext,
  error?: Error,
): Promise<{ error: string; stack: string } | undefined> {
  try {
    await (fn as (c: StepContext, e?: Error) => unknown)(context, error);
    return undefined;
  } catch (hookError) {
    const message = errorMessage(hookError);
    return { error: message, stack: hookError instanceof Error && hookError.stack ? hookError.stack : message };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
