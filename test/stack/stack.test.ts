import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore, LocalOrchestrator, LocalProcessOrchestrator, pipeline, Stack, StackError, step } from "weir";
import { store, useTempHome } from "../helpers.js";

const home = useTempHome("weir-stack-");

let calls = 0;
const produce = step(function stack_produce(n: number) {
  calls++;
  return { n };
});
const stackPipeline = pipeline(function stack_pipeline(params: { n: number }) {
  return produce(params.n);
});

const defaultStore = async () => (await (await store()).getStack("default"))!.components.find((c) => c.type === "artifact_store")!;

describe("stacks built in code", () => {
  it("never replace the default stack's artifact store", async () => {
    const first = await stackPipeline.run({ n: 1 });
    expect(first.status).toBe("completed");
    const before = await defaultStore();

    // The README's own example: a store named "default" (LocalArtifactStore's default name) elsewhere.
    const elsewhere = join(home, "elsewhere");
    const inCode = new Stack({ name: "in-code", orchestrator: new LocalOrchestrator(), artifactStore: new LocalArtifactStore({ path: elsewhere }) });
    const second = await stackPipeline.run({ n: 2 }, { stack: inCode });
    expect(second.status).toBe("completed");
    expect(await second.output()).toEqual({ n: 2 });

    const after = await defaultStore();
    expect(after).toEqual(before);
    const recorded = (await (await store()).getStack("in-code"))!;
    const storeRow = recorded.components.find((c) => c.type === "artifact_store")!;
    expect(storeRow.name).toMatch(/^default-[0-9a-f]{8}$/);
    expect(storeRow.config).toEqual({ path: elsewhere });

    // The default stack still reads and caches what it wrote before.
    calls = 0;
    const again = await stackPipeline.run({ n: 1 });
    expect(again.steps[0].status).toBe("cached");
    expect(await again.output()).toEqual({ n: 1 });
    expect(calls).toBe(0);
  });

  it("record a Stack named like a registered one under a name of its own, the same one every time", async () => {
    const custom = () => new Stack({ name: "default", orchestrator: new LocalOrchestrator({ maxParallel: 3 }) });
    const run = await stackPipeline.run({ n: 3 }, { stack: custom() });
    expect(run.stackName).toMatch(/^default-[0-9a-f]{8}$/);
    const again = await stackPipeline.run({ n: 3 }, { stack: custom() });
    expect(again.stackName).toBe(run.stackName);
    const defaults = (await (await store()).getStack("default"))!;
    expect(defaults.components.find((c) => c.type === "orchestrator")!.config).toEqual({});
    // An identical Stack object keeps its own name.
    const plain = new Stack({ name: "plain", orchestrator: new LocalOrchestrator({ maxParallel: 3 }) });
    expect((await stackPipeline.run({ n: 4 }, { stack: plain })).stackName).toBe("plain");
    expect((await stackPipeline.run({ n: 4 }, { stack: plain })).stackName).toBe("plain");
  });

  it("check their components' config when they are constructed, naming the key", () => {
    expect(() => new LocalOrchestrator({ maxParallel: 0 })).toThrow(StackError);
    expect(() => new LocalOrchestrator({ maxParallel: 0 })).toThrow('orchestrator "LocalOrchestrator": config "maxParallel" must be ≥ 1, got 0');
    expect(() => new LocalOrchestrator({ maxParallel: 1.5 })).toThrow('config "maxParallel" must be a whole number, got 1.5');
    expect(() => new LocalOrchestrator({ maxParalel: 2 })).toThrow('config key "maxParalel" is unknown (known: name, maxParallel)');
    expect(() => new LocalProcessOrchestrator({ name: "proc", echoOutput: "yes" as unknown as boolean })).toThrow(
      'orchestrator "proc" (local_process): config "echoOutput" must be true or false, got "yes"',
    );
    expect(() => new LocalProcessOrchestrator({ memory: "8 bananas" })).toThrow('config "memory" must be a size with a unit like "8GB"');
  });
});
