import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pipeline, step, DynamicOutput } from "weir";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-smoke-"));

const loadData = step(function load_data() { return { records: 100 }; });
const processData = step(function process_data(d: { records: number }) { return { processed: d.records * 2 }; });
const saveResults = step(function save_results(d: { processed: number }) { return `saved ${d.processed}`; });

const staticPipeline = pipeline(function static_pipeline() {
  const data = loadData();
  const processed = processData(data);
  return saveResults(processed);
});

const getSize = step(function get_size(n: number) { return n; });
const small = step(function process_small(n: number) { return `small-${n}`; });
const large = step(function process_large(n: number) { return `large-${n}`; });
const dyn = pipeline({ name: "testable", dynamic: true }, async (p: { testSize: number }) => {
  const size = await getSize(p.testSize);
  return size < 100 ? small(size) : large(size);
});

const files = step({ dynamicOutput: true }, async function* files_in_directory() {
  for (const f of ["a", "b", "c"]) yield new DynamicOutput(f.toUpperCase(), { mappingKey: f });
});
const processFile = step(function process_file(s: string) { return s + "!"; });
const summarize = step(function summarize(xs: string[]) { return xs.join(","); });
const mapped = pipeline(function process_directory() {
  const fs = files();
  return summarize(fs.map(processFile).collect());
});

describe("smoke", () => {
  it("runs static", async () => {
    expect(await staticPipeline()).toBe("saved 200");
    const c = await staticPipeline.compile();
    expect(Object.keys(c.steps)).toEqual(["load_data", "process_data", "save_results"]);
  });
  it("runs dynamic", async () => {
    expect(await dyn({ testSize: 50 })).toBe("small-50");
    expect(await dyn({ testSize: 500 })).toBe("large-500");
  });
  it("runs map/collect", async () => {
    const run = await mapped.run({}, {});
    expect(run.error).toBe(null);
    expect(await run.output()).toBe("A!,B!,C!");
    expect(run.steps.map((s) => s.name)).toContain("process_file[a]");
  });
});
