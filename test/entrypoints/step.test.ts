import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { Client, LocalArtifactStore, LocalProcessOrchestrator, Stack } from "weir";
import { parseReportLine, type AttemptReport } from "../../src/entrypoints/report-channel.js";
import type { StoredStepTask } from "../../src/engine/launcher.js";
import { shoutPipeline } from "../fixtures/step/step-pipelines.js";
import { store, useTempHome } from "../helpers.js";

const home = useTempHome("weir-step-");
const ROOT = resolve(import.meta.dirname, "..", "..");
const FIXTURE = "test/fixtures/step/step-pipelines.ts";

const processStack = () => new Stack({ name: "proc", orchestrator: new LocalProcessOrchestrator({ echoOutput: false }) });

interface StepCommand {
  code: number;
  reports: AttemptReport[];
  text: string[];
}

/** `weir step ID --attempt N` as any launcher would start it: from another folder, code found through WEIR_PROJECT_ROOT. */
function weirStep(stepRunId: string, attempt: number, cwd: string, projectRoot: string | undefined = ROOT): Promise<StepCommand> {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) throw new Error("this test runs the built CLI: run `npm run build` first");
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, "bin/weir.js"), "step", stepRunId, "--attempt", String(attempt)],
      { cwd, env: { ...process.env, WEIR_HOME: home, WEIR_PROJECT_ROOT: projectRoot ?? "", WEIR_DEBUG: "" } },
      (error, stdout) => {
        const lines = stdout.split("\n").filter((l) => l !== "").map(parseReportLine);
        done({
          code: error ? Number(error.code) : 0,
          reports: lines.flatMap((l) => (l.report ? [l.report] : [])),
          text: lines.flatMap((l) => (l.text !== undefined ? [l.text] : [])),
        });
      },
    );
  });
}

describe("weir step", () => {
  it("runs one recorded attempt from another folder and reports it on stdout, writing no step-run rows", async () => {
    const run = await shoutPipeline.run({ word: "hey" }, { stack: processStack() });
    expect(run.status).toBe("completed");
    const s = await store();
    const stepRun = run.steps[0];
    // The task names its module relative to the project root, not by this machine's absolute path.
    const saved = (await s.getStepTask(stepRun.id))!;
    expect((saved.task as StoredStepTask).module).toBe(FIXTURE);

    // Another checkout of the project (the same files elsewhere), as a worker or an image has it.
    const checkout = mkdtempSync(join(tmpdir(), "weir-step-root-"));
    mkdirSync(join(checkout, dirname(FIXTURE)), { recursive: true });
    copyFileSync(join(ROOT, FIXTURE), join(checkout, FIXTURE));
    writeFileSync(join(checkout, "package.json"), '{ "type": "module" }');
    mkdirSync(join(checkout, "node_modules"));
    symlinkSync(ROOT, join(checkout, "node_modules", "weir"));
    const elsewhere = mkdtempSync(join(tmpdir(), "weir-step-cwd-"));
    const result = await weirStep(stepRun.id, 1, elsewhere, checkout);
    expect(result.code).toBe(0);
    expect(result.reports.map((r) => r.type)).toEqual(["started", "log", "result"]);
    expect(result.reports[1]).toEqual({ type: "log", message: "context line" });
    expect(result.text).toContain("shouting hey");
    const outcome = result.reports[2] as Extract<AttemptReport, { type: "result" }>;
    const output = outcome.result.output!;
    expect(output.artifact.uri.startsWith(join(home, "artifacts"))).toBe(true);

    // The value is in the run's artifact store; the step ran in the other folder.
    const bytes = await new LocalArtifactStore({ path: join(home, "artifacts") }).read(output.artifact.uri);
    // …and the step's code came from the checkout WEIR_PROJECT_ROOT names.
    expect(JSON.parse(Buffer.from(bytes).toString("utf8"))).toEqual({ word: "HEY", cwd: elsewhere, file: join(checkout, FIXTURE) });

    // Only the engine records step runs: the record is the one the run left.
    const after = await new Client().getStepRun(run.id, stepRun.name);
    expect(after.attempts).toBe(1);
    expect(after.outputs.map((o) => o.artifact.uri)).not.toContain(output.artifact.uri);
  });

  it("without WEIR_PROJECT_ROOT finds code under the root it was recorded with", async () => {
    const run = await shoutPipeline.run({ word: "here" }, { stack: processStack() });
    const elsewhere = mkdtempSync(join(tmpdir(), "weir-step-cwd-"));
    const result = await weirStep(run.steps[0].id, 1, elsewhere, undefined);
    expect(result.code).toBe(0);
    expect(result.reports.at(-1)!.type).toBe("result");
  });

  it("still finds code recorded by absolute path, and reports a wrong attempt as an error", async () => {
    const run = await shoutPipeline.run({ word: "abs" }, { stack: processStack() });
    const s = await store();
    const stepRun = run.steps[0];
    const saved = (await s.getStepTask(stepRun.id))!;
    // A task recorded before modules were relative to the project root.
    await s.saveStepTask(stepRun.id, 1, { ...(saved.task as StoredStepTask), module: join(ROOT, FIXTURE) });
    const elsewhere = mkdtempSync(join(tmpdir(), "weir-step-cwd-"));

    const [absolute, wrong] = await Promise.all([weirStep(stepRun.id, 1, elsewhere), weirStep(stepRun.id, 2, elsewhere)]);
    expect(absolute.code).toBe(0);
    expect(absolute.reports.at(-1)!.type).toBe("result");
    expect(wrong.code).toBe(1);
    expect(wrong.reports).toEqual([
      {
        type: "error",
        error: expect.objectContaining({ message: `no task is recorded for attempt 2 of step run ${stepRun.id} (the recorded task is of attempt 1)` }),
      },
    ]);
  });
});
