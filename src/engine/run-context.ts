import { AsyncLocalStorage } from "node:async_hooks";

/** The run a piece of orchestration code is working on (for getOrchestratorRunId). */
const currentRun = new AsyncLocalStorage<{ runId: string }>();

export function withOrchestratedRun<T>(runId: string, fn: () => T): T {
  return currentRun.run({ runId }, fn);
}

/** The id of the run being orchestrated here, if any. */
export function orchestratedRunId(): string | undefined {
  return currentRun.getStore()?.runId;
}
