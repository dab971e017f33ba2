// What the CLI tells and accepts: --json, ids as lists show them, parameters, large-run summaries,
// artifact lineage, load errors with their place, and which home a command uses.
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { expectUserError, runIdOf, tempHome, weir, weirWith } from "./weir.js";

const home = tempHome();
const FIXTURE = "test/fixtures/cli-stop-pipelines.ts";

describe("weir output and references", () => {
  let mapped: string;
  let schemaRun: string;

  beforeAll(async () => {
    const [many, schema] = await Promise.all([
      weir(home, "run", FIXTURE, "--pipeline", "many_steps_pipeline", "--param", "count=60"),
      weir(home, "run", FIXTURE, "--pipeline", "schema_pipeline", "--param", "epochs=3", "--param", "tag=007", "--run-name", "with-params"),
    ]);
    // The message is the child's stderr: why a run failed, if it does.
    expect(many.code, many.stderr).toBe(0);
    expect(schema.code, schema.stderr).toBe(0);
    [mapped, schemaRun] = [runIdOf(many), runIdOf(schema)];
    // A large run is summarised per step, mapped runs grouped, instead of 62 rows.
    expect(many.stdout).toMatch(/double_item\[…\] ×60 │ 60 completed/);
    expect(many.stdout).toMatch(/items ×1 +│ 1 completed/);
    expect(many.stdout).not.toContain("double_item[i5]");
    expect(many.stdout).toMatch(/output:\n3540/);
    // The schema wants a string: the text typed is kept ("007", not 7).
    expect(schema.stdout).toMatch(/output:\n"007:3:0.5"/);
  });

  it("checks --param values against the pipeline's schema, naming the parameter", async () => {
    const [wrong, unknown] = await Promise.all([
      weir(home, "run", FIXTURE, "--pipeline", "schema_pipeline", "--param", "epochs=three", "--param", "tag=a"),
      weir(home, "run", FIXTURE, "--pipeline", "schema_pipeline", "--param", "epochs=1", "--param", "tag=a", "--param", "epoch=2"),
    ]);
    expectUserError(wrong, 'pipeline "schema_pipeline": parameter "epochs" is invalid: expected number, received string');
    expectUserError(unknown, 'unknown parameter "epoch" (known: epochs, tag, rate)');
  });

  it("shows a run's parameters, as text and as JSON", async () => {
    const [text, json] = await Promise.all([weir(home, "runs", "show", "with-params"), weir(home, "runs", "show", "with-params", "--json")]);
    expect(text.stdout).toMatch(/^parameters: +\{ "epochs": 3, "tag": "007", "rate": 0.5 \}$/m);
    const run = JSON.parse(json.stdout);
    expect(run).toMatchObject({ id: schemaRun, status: "completed", parameters: { epochs: 3, tag: "007", rate: 0.5 }, output: "007:3:0.5" });
    expect(run.steps[0]).toMatchObject({ name: "describe_params", status: "completed", startedAt: expect.stringMatching(/^\d{4}-/) });
  });

  it("prints JSON from every list and show command", async () => {
    const results = await Promise.all([
      weir(home, "runs", "list", "--json"),
      weir(home, "runs", "graph", mapped, "--json"),
      weir(home, "artifacts", "list", "--json", "--limit", "100"),
      weir(home, "logs", mapped, "--json"),
      weir(home, "artifacts", "show", "many_steps_pipeline::double_item[i1]::output", "--json"),
      weir(home, "status", "--json"),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const [list, graph, artifacts, logs, artifact, status] = results;
    const runs = JSON.parse(list.stdout);
    expect(runs.map((r: { id: string }) => r.id).sort()).toEqual([mapped, schemaRun].sort());
    expect(runs.find((r: { id: string }) => r.id === mapped)).toMatchObject({ stepCount: 62, stepCounts: { completed: 62 } });
    const nodes = JSON.parse(graph.stdout).nodes;
    expect(nodes.find((n: { name: string }) => n.name === "double_item[i3]")).toMatchObject({ mappingKey: "i3", upstream: ["items"] });
    expect(JSON.parse(artifacts.stdout).length).toBeGreaterThan(60);
    // logs --json: one object per line (so --follow can stream them).
    for (const line of logs.stdout.trim().split("\n").filter(Boolean)) expect(JSON.parse(line)).toHaveProperty("message");
    expect(JSON.parse(artifact.stdout)).toMatchObject({
      value: 2,
      producedBy: { runId: mapped, invocationId: "double_item[i1]", outputName: "output" },
      consumedBy: [{ runId: mapped, invocationId: "total_items", inputName: "arg0[1]" }],
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ home, homeSource: "WEIR_HOME", initialized: true, activeStack: "default", runs: 2 });
  });

  it("shows who produced and who consumed an artifact version", async () => {
    const show = await weir(home, "artifacts", "show", "many_steps_pipeline::items::output[i7]@1");
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`produced by: run ${mapped} step items (output output [i7])`);
    expect(show.stdout).toContain(`consumed by: run ${mapped} step double_item[i7] (input arg0)`);
    expectUserError(await weir(home, "artifacts", "show", "many_steps_pipeline::items::output[i7]@9"), "has no version 9 (it has 1 to 1)");
  });

  it("accepts the end of an id as lists show it, or its start, and lists the candidates when several match", async () => {
    const common = commonPrefix(mapped, schemaRun);
    const [bySuffix, byPrefix, shortSuffix, ambiguous] = await Promise.all([
      weir(home, "runs", "graph", mapped.slice(-12)),
      weir(home, "runs", "graph", schemaRun.slice(0, 30)),
      weir(home, "runs", "graph", mapped.slice(-5)),
      weir(home, "runs", "graph", common),
    ]);
    expect(bySuffix.stdout).toContain(`run ${mapped}`);
    expect(byPrefix.stdout).toContain(`run ${schemaRun}`);
    expect(shortSuffix.stdout).toContain(`run ${mapped}`);
    expectUserError(ambiguous, `"${common}" matches 2 runs:`);
    expect(ambiguous.stderr).toContain(mapped);
    expect(ambiguous.stderr).toContain(`${schemaRun} (with-params)`);
    const help = await weir(home, "runs", "show", "--help");
    expect(help.stdout.replace(/\s+/g, " ")).toContain("a unique start or end of the id (lists show the end)");
  });

  it("keeps the file, line and column of a syntax error in a pipeline file", async () => {
    const folder = mkdtempSync(join(tmpdir(), "weir-syntax-"));
    writeFileSync(join(folder, "package.json"), '{ "type": "module" }');
    writeFileSync(join(folder, "broken.ts"), 'import { pipeline } from "weir";\nexport const p = pipeline(function p() { return 1 +; });\n');
    writeFileSync(join(folder, "broken.mjs"), "const ok = 1;\nexport const p = ;\n");
    const [ts, js] = await Promise.all([weir(home, "run", join(folder, "broken.ts")), weir(home, "run", join(folder, "broken.mjs"))]);
    expectUserError(ts, `${join(folder, "broken.ts")}:2:52: Unexpected ";"`);
    expectUserError(js, `${join(folder, "broken.mjs")}:2:18: Unexpected token ';'`);
  });
});

describe("which home a command uses", () => {
  it("finds the project's .weir/ above the working directory and says so", async () => {
    const project = mkdtempSync(join(tmpdir(), "weir-project-"));
    const deep = join(project, "src", "deep");
    mkdirSync(deep, { recursive: true });
    // The home's own store: a store URL in the environment (the PostgreSQL pass) would win over it.
    const unset = { WEIR_HOME: undefined, WEIR_STORE_URL: undefined };
    expect((await weirWith({ cwd: project, env: unset }, "init")).code).toBe(0);
    const [status, list, help] = await Promise.all([
      weirWith({ cwd: deep, env: unset }, "status"),
      weirWith({ cwd: deep, env: unset }, "runs", "list"),
      weirWith({ cwd: deep, env: unset }, "--help"),
    ]);
    expect(status.stdout).toMatch(new RegExp(`weir home: +${escape(join(project, ".weir"))} \\(the nearest \\.weir/ in or above`));
    expect(status.stdout).toMatch(new RegExp(`metadata store: +sqlite:${escape(join(project, ".weir", "weir.db"))}`));
    expect(status.stdout).toMatch(/active stack: +default/);
    expect(list.stdout).toContain("no runs yet");
    expect(help.stdout).toContain(`weir home here: ${join(project, ".weir")}`);
    // Nothing was created below the project's home.
    expect([existsSync(join(deep, ".weir")), existsSync(join(project, "src", ".weir"))]).toEqual([false, false]);
  });
});

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
