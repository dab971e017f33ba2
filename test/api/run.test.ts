import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RunNameTakenError } from "weir";
import { resumeRun } from "../../src/api/run.js";
import { answerPipeline } from "../fixtures/api/pipelines.js";
import { sleep, store, useTempHome } from "../helpers.js";

const home = useTempHome("weir-api-");
const ROOT = join(import.meta.dirname, "..", "..");

describe("submitting runs", () => {
  it("refuses a run name that another run has", async () => {
    const first = await answerPipeline.run({}, { runName: "nightly-1" });
    expect(first.name).toBe("nightly-1");
    const before = (await (await store()).listRuns()).length;
    await expect(answerPipeline.run({}, { runName: "nightly-1" })).rejects.toThrow(RunNameTakenError);
    await expect(answerPipeline.run({}, { runName: "nightly-1" })).rejects.toThrow(
      `a run named "nightly-1" already exists (run ${first.id} of "api_answer_pipeline")`,
    );
    // Refused before anything was written.
    expect((await (await store()).listRuns()).length).toBe(before);
  });

  it("records who drives a run when its row is created, so a submitter killed while initializing leaves a resumable run", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/api/stall.ts"], {
      cwd: ROOT,
      env: { ...process.env, WEIR_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const s = await store();
    const deadline = Date.now() + 30_000;
    let run = (await s.listRuns({ pipelineName: "api_answer_pipeline" })).find((r) => r.stackName === "stalled");
    while (!run) {
      if (child.exitCode !== null) throw new Error(`child exited early (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`the child never created its run: ${stderr}`);
      await sleep(50);
      run = (await s.listRuns({ pipelineName: "api_answer_pipeline" })).find((r) => r.stackName === "stalled");
    }
    expect(run.status).toBe("initializing");
    expect(run.owner).toBe(`${hostname()}:${child.pid}`);
    expect(Math.abs(run.heartbeatAt! - run.createdAt)).toBeLessThan(5_000);

    child.kill("SIGKILL");
    await exited;
    // At once, not after the heartbeat goes stale: the owner's pid is gone.
    const resumed = await resumeRun(run.id, { stack: "default" });
    expect(resumed.status).toBe("completed");
    expect(await resumed.output()).toBe(42);
  });
});
