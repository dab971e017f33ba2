import { beforeAll, describe, expect, it } from "vitest";
import { expectUserError, runIdOf, tempHome, weir } from "./weir.js";

const home = tempHome();
const STATIC = "examples/static-pipeline.ts";
const TESTABLE = "examples/testable-dynamic-pipeline.ts";

describe("weir init and run", () => {
  let staticRun: string;

  beforeAll(async () => {
    const init = await weir(home, "init");
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`initialized weir home at ${home}`);
    expect(init.stdout).toMatch(/active stack:\s+default/);
  });

  it("runs a static example and prints its steps and output", async () => {
    const result = await weir(home, "run", STATIC);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/status:\s+completed/);
    for (const step of ["load_data", "process_data", "save_results"]) expect(result.stdout).toContain(step);
    expect(result.stdout).toMatch(/output:\n\{\n\s+"processed": 200\n\}/);
    staticRun = runIdOf(result);
  });

  it("lists the run, shows its step runs and prints its graph", async () => {
    const [list, show, graph] = await Promise.all([
      weir(home, "runs", "list", "--pipeline", "static_pipeline"),
      weir(home, "runs", "show", staticRun.slice(-12)),
      weir(home, "runs", "graph", staticRun),
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(staticRun.slice(-12));
    expect(list.stdout).toMatch(/static_pipeline\s+│ completed/);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(staticRun);
    const stepRows = show.stdout.split("\n").filter((l) => /^│ (load_data|process_data|save_results) /.test(l));
    expect(stepRows).toHaveLength(3);
    expect(graph.code).toBe(0);
    expect(graph.stdout).toContain("process_data [completed] <- load_data");
    expect(graph.stdout).toContain("save_results [completed] <- process_data");
  });

  it("passes --param values to the pipeline, parsed as JSON when they parse", async () => {
    const [small, large] = await Promise.all([
      weir(home, "run", TESTABLE, "--param", "testSize=50", "--run-name", "small-branch"),
      weir(home, "run", TESTABLE, "--param", "testSize=200", "--no-cache", "--run-name", "large-branch"),
    ]);
    expect(small.code).toBe(0);
    expect(small.stdout).toContain('"small-50"');
    expect(large.code).toBe(0);
    expect(large.stdout).toContain('"large-200"');

    const diff = await weir(home, "runs", "diff", "small-branch", "large-branch");
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/only in A:\n\s+- process_small/);
    expect(diff.stdout).toMatch(/only in B:\n\s+\+ process_large/);
    expect(diff.stdout).not.toContain("same graph");
  });

  it("diffs two runs of the same static pipeline as the same graph", async () => {
    const again = runIdOf(await weir(home, "run", STATIC));
    const diff = await weir(home, "runs", "diff", staticRun, again);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain("same graph (3 step runs)");
  });

  it("reports user mistakes as one error line, without a stack trace", async () => {
    const [badParam, missingFile, unknownPipeline, unknownStack, several, unknownRun] = await Promise.all([
      weir(home, "run", STATIC, "--param", "oops"),
      weir(home, "run", "examples/no-such-file.ts"),
      weir(home, "run", STATIC, "--pipeline", "nope"),
      weir(home, "run", STATIC, "--stack", "nope"),
      weir(home, "run", "test/fixtures/cli-pipelines.ts"),
      weir(home, "runs", "show", "no-such-run"),
    ]);
    expectUserError(badParam, '--param "oops" must look like key=value');
    expectUserError(missingFile, "no such file: examples/no-such-file.ts");
    expectUserError(unknownPipeline, 'has no pipeline "nope" (it has: static_pipeline)');
    expectUserError(unknownStack, 'no stack named "nope"');
    expectUserError(several, "exports several pipelines (flaky_pipeline, logging_pipeline)");
    expectUserError(unknownRun, 'no run matches "no-such-run"');
  });

  it("lists server and worker in --help; worker needs a queue stack", async () => {
    const [help, worker] = await Promise.all([weir(home, "--help"), weir(home, "worker")]);
    expect(help.code).toBe(0);
    for (const command of ["init", "run", "runs", "logs", "artifacts", "stack", "server", "worker"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    expectUserError(worker, 'stack "default" uses the "local" orchestrator; weir worker serves stacks with the "queue" orchestrator');
  });

  it("weir demo runs every example pipeline", async () => {
    const demo = await weir(home, "demo");
    expect(demo.code).toBe(0);
    const pipelines = [
      "adaptive_pipeline",
      "dynamic_parallel_pipeline",
      "dynamic_pipeline",
      "external_config_pipeline",
      "process_directory",
      "static_pipeline",
      "testable_dynamic_pipeline",
    ];
    for (const name of pipelines) expect(demo.stdout).toMatch(new RegExp(`│ ${name} +│ [0-9a-f]{12} │ completed │`));
  });
});
