import type { Command } from "commander";
import { rm, rmdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, isAbsolute } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createInterface } from "node:readline/promises";
import { isAlive } from "../../stores/metadata/liveness.js";
import { openMetadataStore } from "../../config/home.js";
import type { MetadataStore, RunRecord } from "../../stores/metadata/types.js";
import { markRunStopped } from "../interrupt.js";
import { CliError } from "../output.js";
import { refuseThroughServer } from "../remote.js";
import { resolveRunId, RUN_REFERENCE } from "../resolve.js";

/** How long `weir runs cancel` waits for an interrupted process to mark its run. */
const CANCEL_WAIT_MS = 30_000;
const POLL_MS = 100;

export function registerCancelAndDeleteCommands(runs: Command): void {
  runs
    .command("cancel")
    .description("stop a running run: interrupts the process driving it (this host), or marks a dead run cancelled")
    .argument("<run>", RUN_REFERENCE)
    .action(async (ref: string) => {
      refuseThroughServer("runs cancel");
      const store = await openMetadataStore();
      const run = (await store.getRun(await resolveRunId(ref)))!;
      console.log(await cancelRun(store, run));
    });

  runs
    .command("delete")
    .description("delete a run with its step runs, logs and the artifacts no other run uses (their bytes too)")
    .argument("<run>", RUN_REFERENCE)
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (ref: string, flags: { yes?: boolean }) => {
      refuseThroughServer("runs delete");
      const store = await openMetadataStore();
      const run = (await store.getRun(await resolveRunId(ref)))!;
      if (isAlive(run)) throw new CliError(`run ${run.id} is still running; stop it first with: weir runs cancel ${run.id}`);
      const what = `run ${run.id} (${run.name}, pipeline ${run.pipelineName}, ${run.status})`;
      if (!flags.yes && !(await confirm(`delete ${what} and its artifacts? [y/N] `))) {
        if (!process.stdin.isTTY) throw new CliError(`not deleting ${what} without confirmation: pass --yes`);
        console.log("not deleted");
        return;
      }
      const { artifactUris } = await store.deleteRun(run.id);
      const { removed, kept } = await removeArtifactBytes(store, artifactUris.map((a) => a.uri));
      console.log(`deleted ${what}: ${artifactUris.length} artifact version${artifactUris.length === 1 ? "" : "s"}, ${removed} file${removed === 1 ? "" : "s"} removed`);
      if (kept.length > 0) {
        console.log(`not removed (not local files; remove them with their store's tools): ${kept.join(", ")}`);
      }
    });
}

/**
 * Cancels a run and says what happened. A live process on this host is sent SIGINT (its
 * `weir run` marks the run interrupted and exits); a process elsewhere cannot be signalled,
 * so the run is flagged (`cancelRequestedAt`) for it to stop; a run nobody drives any more
 * is marked `cancelled` here.
 */
async function cancelRun(store: MetadataStore, run: RunRecord): Promise<string> {
  if (run.status !== "running" && run.status !== "initializing") {
    throw new CliError(`run ${run.id} has already ended (${run.status}); nothing to cancel`);
  }
  const [host, pidText] = (run.owner ?? "").split(":");
  const pid = Number(pidText);
  if (!isAlive(run)) {
    await markRunStopped(store, run.id, "cancelled");
    return `run ${run.id} was not driven by a live process (owner ${run.owner ?? "none"}): marked failed ("cancelled")`;
  }
  if (!run.owner) throw new CliError(`run ${run.id} is being set up and has no owner yet; try again in a moment`);
  if (host !== hostname() || !Number.isInteger(pid)) {
    await store.updateRun(run.id, { cancelRequestedAt: Date.now() });
    return `run ${run.id} is driven by ${run.owner} on another host: cancellation requested (that process stops the run)`;
  }
  process.kill(pid, "SIGINT");
  for (const deadline = Date.now() + CANCEL_WAIT_MS; Date.now() < deadline; await sleep(POLL_MS)) {
    const now = (await store.getRun(run.id))!;
    if (now.status !== "running" && now.status !== "initializing") {
      return `cancelled run ${run.id}: process ${pid} was interrupted and marked it ${now.status} ("${now.error}")`;
    }
    // A process without weir's handler (a script calling p.run()) simply dies: mark the run here.
    if (!isAlive(now)) {
      await markRunStopped(store, run.id, "cancelled");
      return `cancelled run ${run.id}: process ${pid} ended; marked the run failed ("cancelled")`;
    }
  }
  throw new CliError(`sent SIGINT to process ${pid}, but run ${run.id} is still running after ${CANCEL_WAIT_MS / 1000}s`);
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Removes the bytes of deleted artifact versions. Local artifacts are files, or ranges of a
 * run's pack file (`<pack>#offset+length`); a pack is removed once no remaining version
 * points into it, and a run folder once it is empty. Returns the URIs it could not remove.
 */
async function removeArtifactBytes(store: MetadataStore, uris: string[]): Promise<{ removed: number; kept: string[] }> {
  const kept = uris.filter((uri) => !isAbsolute(uri));
  const files = new Set(uris.filter((uri) => isAbsolute(uri)).map((uri) => uri.replace(/#\d+\+\d+$/, "")));
  if (files.size === 0) return { removed: 0, kept };
  const stillUsed = new Set((await store.listArtifactVersions()).map((v) => v.uri.replace(/#\d+\+\d+$/, "")));
  let removed = 0;
  for (const file of files) {
    if (stillUsed.has(file)) continue;
    await rm(file, { force: true });
    removed++;
  }
  for (const folder of new Set([...files].map((f) => dirname(f)))) {
    await rmdir(folder).catch(() => undefined); // only when empty
  }
  return { removed, kept };
}
