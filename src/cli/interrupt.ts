import { closeMetadataStores, openMetadataStore } from "../config/home.js";
import type { MetadataStore } from "../stores/metadata/types.js";

/** Exit code of a process stopped by SIGINT (128 + 2), as shells report Ctrl-C. */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Records that a run stopped without finishing: the run and its running step runs become
 * `failed` with `reason` as their error ("interrupted" for Ctrl-C, "cancelled" for
 * `weir runs cancel`). Pending step runs stay pending: `weir runs resume` runs them.
 * Returns false when the run is unknown or had already ended.
 */
export async function markRunStopped(store: MetadataStore, runId: string, reason: string): Promise<boolean> {
  const run = await store.getRun(runId);
  if (!run || (run.status !== "running" && run.status !== "initializing")) return false;
  const now = Date.now();
  const running = (await store.listStepRuns(runId)).filter((s) => s.status === "running");
  await Promise.all([
    ...running.map((s) => store.updateStepRun(s.id, { status: "failed", error: reason, endedAt: now })),
    store.updateRun(runId, { status: "failed", error: reason, endedAt: now }),
  ]);
  return true;
}

/**
 * While `weir run` / `weir runs resume` drive a run: on SIGINT (Ctrl-C, or `weir runs
 * cancel` from another shell) mark the run interrupted, say how to resume it, and exit
 * 130. Without this the run would stay `running` until its heartbeat went stale. A second
 * Ctrl-C exits at once. Returns a function that removes the handler.
 */
export function interruptRunOnSigint(runId: string, beforeExit: () => void): () => void {
  let interrupted = false;
  const handler = () => {
    if (interrupted) process.exit(INTERRUPTED_EXIT_CODE);
    interrupted = true;
    beforeExit();
    void (async () => {
      try {
        const marked = await markRunStopped(await openMetadataStore(), runId, "interrupted");
        process.stderr.write(
          marked
            ? `\ninterrupted: run ${runId} is marked failed ("interrupted"); resume it with: weir runs resume ${runId}\n`
            : `\ninterrupted (run ${runId} was not running)\n`,
        );
      } catch (error) {
        process.stderr.write(`\ninterrupted; could not mark run ${runId}: ${error instanceof Error ? error.message : String(error)}\n`);
      } finally {
        await closeMetadataStores().catch(() => undefined);
        process.exit(INTERRUPTED_EXIT_CODE);
      }
    })();
  };
  process.on("SIGINT", handler);
  return () => process.off("SIGINT", handler);
}
