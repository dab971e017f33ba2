import { describe, expect, it } from "vitest";
import {
  Client,
  DynamicOutput,
  getStepContext,
  LocalOrchestrator,
  pipeline,
  registerMaterializer,
  Stack,
  step,
  type StepContext,
} from "weir";
import { sleep, useTempHome } from "../helpers.js";

useTempHome();

describe("step context", () => {
  it("gives run id, invocation id, mapping key, attempt and resources; logs and metadata are recorded", async () => {
    const seen: Omit<StepContext, "log" | "addMetadata">[] = [];
    const parts = step({ dynamicOutput: true }, function* ctx_parts() {
      yield new DynamicOutput(1, { mappingKey: "one" });
    });
    const inspect = step(
      { name: "ctx_inspect", settings: { resources: { cpuCount: 1, memory: "1GB" } } },
      (x: number) => {
        const { runId, stepName, mappingKey, attempt, resources } = getStepContext();
        seen.push({ runId, stepName, mappingKey, attempt, resources });
        getStepContext().log("processing item", x);
        getStepContext().addMetadata({ rows: 42 });
        return x;
      },
    );
    const run = await pipeline(function ctx_pipeline() {
      return parts().map(inspect).collect();
    }).run();
    expect(run.error).toBeNull();
    expect(seen).toEqual([
      { runId: run.id, stepName: "ctx_inspect[one]", mappingKey: "one", attempt: 1, resources: { cpuCount: 1, memory: "1GB", memoryBytes: 1e9 } },
    ]);
    const details = await new Client().getStepRun(run.id, "ctx_inspect[one]");
    expect(details.metadata).toEqual({ rows: 42 });
    expect(details.logs.map((l) => [l.stream, l.message])).toContainEqual(["log", "processing item 1"]);
  });

  it("captures each in-process step's console output into its own step run", async () => {
    const talk = step(async function talkative(name: string) {
      console.log(`hello from ${name}`);
      await sleep(5);
      console.error(`warning from ${name}`);
      return name;
    });
    const run = await pipeline(function chatty() {
      return [talk("a"), talk("b")];
    }).run();
    const client = new Client();
    for (const [step, name] of [["talkative", "a"], ["talkative_2", "b"]]) {
      const logs = await client.getLogs(run.id, step);
      expect(logs.map((l) => [l.stream, l.message])).toEqual([
        ["stdout", `hello from ${name}`],
        ["stderr", `warning from ${name}`],
      ]);
    }
  });
});

describe("materializers end to end", () => {
  class Embedding {
    constructor(readonly vector: number[]) {}
    norm() {
      return Math.hypot(...this.vector);
    }
  }
  registerMaterializer({
    name: "test.embedding",
    type: Embedding,
    save: (e) => JSON.stringify(e.vector),
    load: (bytes) => new Embedding(JSON.parse(Buffer.from(bytes).toString("utf8"))),
  });

  it("stores values of every built-in kind and user-registered classes between steps", async () => {
    const produce = step(function produce_values() {
      return {
        date: new Date("2026-01-02T03:04:05Z"),
        map: new Map([["a", 1n]]),
        set: new Set(["x"]),
      };
    });
    const embed = step(function embed() {
      return new Embedding([3, 4]);
    });
    const floats = step(function floats() {
      return new Float64Array([0.5, 1.5]);
    });
    const consume = step(function consume_values(
      v: { date: Date; map: Map<string, bigint>; set: Set<string> },
      e: Embedding,
      f: Float64Array,
    ) {
      return `${v.date.getUTCFullYear()} ${v.map.get("a")! + 1n} ${v.set.has("x")} ${e.norm()} ${f[1]}`;
    });
    const run = await pipeline(function all_kinds() {
      return consume(produce(), embed(), floats());
    }).run({}, { enableCache: false });
    expect(await run.output()).toBe("2026 2 true 5 1.5");
    const client = new Client();
    const embedOut = (await client.getStepRun(run.id, "embed")).outputs[0].artifact;
    expect(embedOut).toMatchObject({ materializer: "test.embedding", dataType: "Embedding" });
    expect(((await client.loadArtifact(embedOut.id)) as Embedding).norm()).toBe(5);
    const floatOut = (await client.getStepRun(run.id, "floats")).outputs[0].artifact;
    expect(floatOut).toMatchObject({ materializer: "weir.typed_array", dataType: "Float64Array", size: 16 });
  });
});

describe("local orchestrator bound", () => {
  it("runs at most maxParallel steps at once", async () => {
    let running = 0;
    let peak = 0;
    const busy = step(async function busy_step(i: number) {
      running += 1;
      peak = Math.max(peak, running);
      await sleep(30);
      running -= 1;
      return i;
    });
    const stack = new Stack({ name: "bounded", orchestrator: new LocalOrchestrator({ maxParallel: 2 }) });
    const p = pipeline({ name: "bounded_fan_out", dynamic: true }, async () => Promise.all([1, 2, 3, 4, 5, 6].map((i) => busy(i))));
    const run = await p.run({}, { stack, enableCache: false });
    expect(await run.output()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
  });
});
