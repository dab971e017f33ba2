import { RunNotFoundError } from "../authoring/errors.js";
import { openMetadataStore, weirHome } from "../config/home.js";
import { orchestrateOnStack } from "../orchestrators/base.js";
import "../presets/default.js";
import { resolveStack } from "../stack/stack.js";

/**
 * The orchestration entry point (`weir orchestrate RUN`): runs the orchestration of a
 * stored run in this (fresh) process, so any backend only has to start a command. It
 * always resumes: if an earlier orchestration process of the same run died, completed
 * step runs are answered from the record and the rest runs again. It takes the run's
 * lease first, so a second `weir orchestrate` of a run whose driver is alive is refused.
 */
export async function orchestrateEntrypoint(runId: string, home = weirHome()): Promise<void> {
  const store = await openMetadataStore(home);
  const run = await store.getRun(runId);
  if (!run) throw new RunNotFoundError(`no run with id "${runId}" in ${home}`);
  const stack = await resolveStack(store, run.stackName, home);
  await orchestrateOnStack({ runId, stack, store, resume: true });
}
