import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Client, LocalArtifactStore } from "weir";
import { resumeRun } from "../../src/api/run.js";
import { sleep, store, useTempHome } from "../helpers.js";

const home = useTempHome("weir-crash-");
const ROOT = join(import.meta.dirname, "..", "..");

/** Starts the crash pipeline in a child process and SIGKILLs it once it reports pausing at `point`. */
async function runAndKill(point: string, log: string): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/crash/run.ts"], {
    cwd: ROOT,
    env: { ...process.env, WEIR_HOME: home, CRASH_AT: point, CRASH_LOG: log },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!(existsSync(log) && readFileSync(log, "utf8").includes(`paused ${point}`))) {
    if (child.exitCode !== null) throw new Error(`child exited early (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`child never reached ${point}: ${stderr}`);
    await sleep(20);
  }
  child.kill("SIGKILL");
  await exited;
  const runs = await (await store()).listRuns({ pipelineName: "crash_pipeline", limit: 1 });
  return runs[0].id;
}

const ends = (log: string) =>
  readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("end "))
    .map((l) => l.slice(4));

describe("crash safety: kill -9, then resume", () => {
  it.each(["during_b", "between", "writing_crash_big"])("killed at %s: consistent store, resume finishes, nothing ran twice", async (point) => {
    const log = join(home, `${point}.log`);
    const runId = await runAndKill(point, log);
    const s = await store();

    // The dead run is detectable: still `running` on record, but not alive.
    const before = await new Client().getRun(runId);
    expect(before.status).toBe("running");
    expect(before.alive).toBe(false);
    const completedBefore = before.steps.filter((st) => st.status === "completed").map((st) => st.name);
    for (const st of before.steps.filter((x) => x.status !== "completed")) {
      // Nothing that did not complete has outputs on record.
      expect(await s.listStepOutputs(st.id)).toEqual(point === "writing_crash_big" && st.stepName === "crash_parts" ? expect.anything() : []);
    }
    const endsBefore = ends(log);

    // The resume runs here, in the test process, logging to the same file.
    process.env.CRASH_LOG = log;
    const resumed = await resumeRun(runId, {});
    expect(resumed.error).toBeNull();
    expect(resumed.status).toBe("completed");
    expect(await resumed.output()).toBe(0 + 1 + 2 + 3 * 2 * 1024 * 1024);

    // Steps that had completed before the crash were not executed again; every other step
    // ran exactly once during the resume. All steps finished.
    const endsAfter = ends(log);
    const count = (list: string[], name: string) => list.filter((e) => e === name).length;
    const all = ["crash_a", "crash_b", "crash_parts", "crash_big 0", "crash_big 1", "crash_big 2", "crash_sum"];
    const stepOf = (name: string) => name.replace(/\[p(\d)\]$/, " $1");
    for (const name of all) {
      const ranDuringResume = count(endsAfter, name) - count(endsBefore, name);
      const completed = completedBefore.map(stepOf).includes(name);
      expect(ranDuringResume, name).toBe(completed ? 0 : 1);
    }
    const client = new Client();
    const artifacts = new LocalArtifactStore({ path: join(home, "artifacts") });
    for (const st of resumed.steps) {
      expect(st.status).toBe("completed");
      for (const output of (await client.getStepRun(runId, st.name)).outputs) {
        const bytes = await artifacts.read(output.artifact.uri);
        expect(createHash("sha256").update(bytes).digest("hex")).toBe(output.artifact.contentHash);
        await client.loadArtifact(output.artifact.id);
      }
    }
  });
});
