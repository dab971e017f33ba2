// The CLI's pure helpers, in-process (the commands themselves are tested as child processes).
import { describe, expect, it, vi } from "vitest";
import type { PipelineRun } from "weir";
import { parseParams } from "../../src/cli/commands/run.js";
import { graphDiff } from "../../src/cli/commands/runs.js";
import { CliError, formatDuration, formatValue, matchesId, printJson, stepSummaryTable, table } from "../../src/cli/output.js";
import type { StepRunView } from "../../src/client/run-view.js";
import { progressLine } from "../../src/cli/progress.js";
import type { StepRunRecord } from "../../src/stores/metadata/types.js";

describe("cli helpers", () => {
  it("parses --param values as JSON when they parse, else as strings", () => {
    expect(parseParams(["n=3", "flag=true", "list=[1,2]", "name=abc", "eq=a=b", "empty="])).toEqual({
      n: 3,
      flag: true,
      list: [1, 2],
      name: "abc",
      eq: "a=b",
      empty: "",
    });
    expect(() => parseParams(["=3"])).toThrow(CliError);
    expect(() => parseParams(["novalue"])).toThrow('--param "novalue" must look like key=value');
  });

  it("draws tables with a rule under the header, wide characters and multi-line cells aligned", () => {
    expect(table(["name", "status"], [["train", "completed"], ["漢字", 3], ["multi\nline", "tab\there"]])).toBe(
      [
        "┌───────┬───────────┐",
        "│ name  │ status    │",
        "├───────┼───────────┤",
        "│ train │ completed │",
        "│ 漢字  │ 3         │",
        "│ multi │ tab here  │",
        "│ line  │           │",
        "└───────┴───────────┘",
      ].join("\n"),
    );
    expect(table(["a", "b"], [])).toBe(["┌───┬───┐", "│ a │ b │", "└───┴───┘"].join("\n"));
  });

  it("summarizes a group of 200,000 step runs (no argument spreading that overflows the stack)", () => {
    const t0 = Date.UTC(2026, 0, 1);
    const steps = Array.from(
      { length: 200_000 },
      (_, i) => ({ stepName: "work", mappingKey: null, status: i % 2 ? "completed" : "cached", startedAt: new Date(t0 + i), endedAt: new Date(t0 + i + 1_000) }) as StepRunView,
    );
    const summary = stepSummaryTable(steps);
    expect(summary).toContain("work ×200000");
    expect(summary).toContain("100000 cached, 100000 completed");
    // From the first start to the last end: 199,999 ms + 1 s.
    expect(summary).toContain(formatDuration(200_999));
  });

  it("counts step runs by status for the progress line", () => {
    const steps = ["completed", "cached", "running", "failed", "skipped", "pending"].map((status) => ({ status }) as StepRunRecord);
    expect(progressLine({ pipelineName: "p", isDynamic: true }, steps, 1500)).toBe(
      "p 1.5s · 2 completed · 1 running · 1 failed · 1 skipped · 6 discovered",
    );
    expect(progressLine({ pipelineName: "p", isDynamic: false }, steps, 10)).not.toContain("discovered");
  });

  it("diffs executed graphs by invocation id and upstream", () => {
    const run = (fingerprint: string, steps: [string, string[]][]) =>
      ({ id: fingerprint, pipelineName: "p", fingerprint, steps: steps.map(([name, upstream]) => ({ name, upstream })) }) as unknown as PipelineRun;
    const a = run("fa", [["load", []], ["train", ["load"]], ["small", ["load"]]]);
    const b = run("fb", [["load", []], ["train", ["load", "extra"]], ["large", ["load"]]]);
    expect(graphDiff(a, a)).toContain("same graph (3 step runs)");
    const diff = graphDiff(a, b);
    expect(diff).toContain("only in A:\n  - small");
    expect(diff).toContain("only in B:\n  + large");
    expect(diff).toContain("~ train: A <- [load]  B <- [extra, load]");
  });

  it("formats durations and values for people", () => {
    expect([formatDuration(12), formatDuration(1_234), formatDuration(125_000), formatDuration(3_720_000)]).toEqual([
      "12ms",
      "1.2s",
      "2m 05s",
      "1h 02m",
    ]);
    expect(formatValue({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(formatValue(new Map([["k", 1]]))).toBe("Map(1) { 'k' => 1 }");
    expect(formatValue(undefined)).toBe("undefined");
    expect(formatValue(10n)).toBe("10n");
    expect(formatValue("x".repeat(3000))).toMatch(/… \(1002 more characters\)$/);
  });

  it("summarises step runs per step, grouping mapped ones", () => {
    const at = (ms: number) => new Date(1_000_000 + ms);
    const view = (name: string, stepName: string, mappingKey: string | null, status: StepRunView["status"], start: number, end: number) =>
      ({ name, stepName, mappingKey, status, startedAt: at(start), endedAt: at(end) }) as StepRunView;
    const steps = [
      view("load", "load", null, "completed", 0, 10),
      ...Array.from({ length: 3 }, (_, i) => view(`work[k${i}]`, "work", `k${i}`, i === 2 ? "failed" : "completed", 10 + i, 2000)),
      view("work", "work", null, "cached", 5, 6),
    ];
    const text = stepSummaryTable(steps);
    expect(text).toMatch(/│ load ×1 +│ 1 completed +│ 10ms +│/);
    expect(text).toMatch(/│ work\[…\] ×3 +│ 2 completed, 1 failed +│ 2.0s +│/);
    expect(text).toMatch(/│ work ×1 +│ 1 cached +│ 1ms +│/);
  });

  it("prints JSON that keeps what plain JSON cannot hold", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      printJson({ n: 10n, m: new Map([["a", 1]]), s: new Set([1]), t: new Uint8Array([1, 2]), d: new Date(0), u: undefined }, { lines: true });
      expect(log).toHaveBeenCalledWith('{"n":"10","m":{"a":1},"s":[1],"t":[1,2],"d":"1970-01-01T00:00:00.000Z","u":null}');
    } finally {
      log.mockRestore();
    }
  });

  it("matches ids by their start or by the end that lists show", () => {
    const id = "01a2370d-3258-7d42-a50c-aff317e066bc";
    expect([matchesId(id, "01a2370d"), matchesId(id, "e066bc"), matchesId(id, id.slice(-12)), matchesId(id, "3258"), matchesId(id, "")]).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});
