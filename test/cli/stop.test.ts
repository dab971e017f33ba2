// Stopping runs from the command line: leaked timers, Ctrl-C, `weir runs cancel`, `weir runs delete`.
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { expectUserError, runIdOf, startWeir, tempHome, weir } from "./weir.js";

const home = tempHome();
const FIXTURE = "test/fixtures/cli-stop-pipelines.ts";
afterAll(() => closeMetadataStores());

/** Starts waiting_pipeline (it waits for `marker`) and resolves once its waiting step is running. */
async function startWaitingRun(runName: string, marker: string) {
  const started = startWeir(home, "run", FIXTURE, "--pipeline", "waiting_pipeline", "--param", `markerFile=${marker}`, "--run-name", runName, "--no-cache");
  const store = await openMetadataStore(home);
  for (let i = 0; ; i++) {
    const run = (await store.listRuns({ pipelineName: "waiting_pipeline" })).find((r) => r.name === runName);
    const waiting = run && (await store.findStepRun(run.id, "wait_for_marker"));
    if (run && waiting?.status === "running") return { ...started, runId: run.id, store };
    if (i > 300) throw new Error(`run ${runName} never started waiting:\n${(await started.result).stderr}`);
    await sleep(50);
  }
}

describe("stopping runs", () => {
  it("exits when the run ends, even though a timed-out step left a timer running", async () => {
    const startedAt = Date.now();
    const result = await weir(home, "run", FIXTURE, "--pipeline", "timer_leak_pipeline");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/status:\s+failed/);
    expect(result.stdout).toContain("timed out after 300 ms");
    // The step's timer would keep the process alive for 10 minutes (and this test would time out).
    expect(Date.now() - startedAt).toBeLessThan(40_000);
  });

  it("on Ctrl-C marks the run and its running step interrupted, says how to resume, and exits 130", async () => {
    const marker = join(home, "marker-sigint");
    const { child, result, runId, store } = await startWaitingRun("interrupted-run", marker);
    child.kill("SIGINT");
    const outcome = await result;
    expect(outcome.code).toBe(130);
    // The id comes first, before anything the run prints.
    expect(outcome.stdout.split("\n")[0]).toBe(`run: ${runId}`);
    expect(outcome.stderr).toContain(`resume it with: weir runs resume ${runId}`);
    const run = (await store.getRun(runId))!;
    expect([run.status, run.error]).toEqual(["failed", "interrupted"]);
    const waiting = (await store.findStepRun(runId, "wait_for_marker"))!;
    expect([waiting.status, waiting.error]).toEqual(["failed", "interrupted"]);
    expect((await store.findStepRun(runId, "first_step"))!.status).toBe("completed");

    // Resumable at once (its process is gone), and it completes once the marker exists.
    writeFileSync(marker, "");
    const resumed = await weir(home, "runs", "resume", runId);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/output:\n"released"/);
  });

  it("weir runs cancel interrupts the live process driving a run", async () => {
    const { result, runId, store } = await startWaitingRun("cancelled-live", join(home, "marker-cancel"));
    const cancel = await weir(home, "runs", "cancel", runId.slice(-12));
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(/cancelled run .* process \d+ was interrupted and marked it failed \("interrupted"\)/);
    expect((await result).code).toBe(130);
    expect((await store.getRun(runId))!.status).toBe("failed");
    expectUserError(await weir(home, "runs", "cancel", runId), "has already ended (failed); nothing to cancel");
  });

  it("weir runs cancel marks a run whose process died cancelled", async () => {
    const { child, result, runId, store } = await startWaitingRun("cancelled-dead", join(home, "marker-dead"));
    child.kill("SIGKILL");
    await result;
    expect((await store.getRun(runId))!.status).toBe("running");
    const cancel = await weir(home, "runs", "cancel", "cancelled-dead");
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain("was not driven by a live process");
    const run = (await store.getRun(runId))!;
    expect([run.status, run.error]).toEqual(["failed", "cancelled"]);
    expect((await store.findStepRun(runId, "wait_for_marker"))!.error).toBe("cancelled");
  });

  it("weir runs cancel asks a run driven from another host to stop (cancelRequestedAt)", async () => {
    const store = await openMetadataStore(home);
    const run = (await store.getRun(runIdOf(await weir(home, "run", FIXTURE, "--pipeline", "timer_leak_pipeline"))))!;
    await store.updateRun(run.id, { status: "running", owner: "elsewhere:1", heartbeatAt: Date.now(), endedAt: null });
    const cancel = await weir(home, "runs", "cancel", run.id);
    expect(cancel.stdout).toContain("on another host: cancellation requested");
    expect((await store.getRun(run.id)) as unknown).toMatchObject({ status: "running", cancelRequestedAt: expect.any(Number) });
  });

  it("weir runs delete removes a run, its records and the artifact bytes no other run uses", async () => {
    const [first, second] = [
      await weir(home, "run", FIXTURE, "--pipeline", "many_steps_pipeline", "--param", "count=3", "--run-name", "to-delete"),
      await weir(home, "run", FIXTURE, "--pipeline", "many_steps_pipeline", "--param", "count=3", "--run-name", "cached-copy"),
    ];
    const [firstId, secondId] = [runIdOf(first), runIdOf(second)];
    const store = await openMetadataStore(home);
    expect((await store.listStepRuns(secondId)).every((s) => s.status === "cached")).toBe(true);
    const firstFolder = join(home, "artifacts", firstId);
    expect(existsSync(firstFolder)).toBe(true);

    expectUserError(await weir(home, "runs", "delete", "to-delete"), "without confirmation: pass --yes");
    // The cached run still links every step output of the first run: only the run's own return value goes.
    const deleted = await weir(home, "runs", "delete", "to-delete", "--yes");
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain(`deleted run ${firstId}`);
    expect(await store.getRun(firstId)).toBeUndefined();
    expect(await store.listLogs(firstId)).toEqual([]);
    const [stillThere, both] = [await weir(home, "runs", "show", "cached-copy"), await weir(home, "runs", "delete", secondId, "--yes")];
    expect(stillThere.stdout).toMatch(/output:\n6/);
    expect(both.stdout).toMatch(/deleted run .*: [1-9]\d* artifact versions?, [1-9]\d* files? removed/);
    expect(existsSync(firstFolder) ? readdirSync(firstFolder) : []).toEqual([]);
    expect(await store.getRun(secondId)).toBeUndefined();
  });

  it("weir runs delete refuses a run that is still running", async () => {
    const marker = join(home, "marker-running");
    const { child, result, runId } = await startWaitingRun("running-delete", marker);
    expectUserError(await weir(home, "runs", "delete", runId, "--yes"), `stop it first with: weir runs cancel ${runId}`);
    child.kill("SIGINT");
    await result;
  });
});
