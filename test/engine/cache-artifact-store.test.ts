import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore, LocalOrchestrator, pipeline, Stack, step } from "weir";
import { useTempHome } from "../helpers.js";

const home = useTempHome("weir-cache-stores-");

const double = step(function double_it(x: number) {
  return x * 2;
});
const doubled = pipeline(function doubled_pipeline() {
  return double(21);
});

const stackOn = (name: string, dir: string) =>
  new Stack({
    name,
    orchestrator: new LocalOrchestrator({ name: `${name}-orchestrator` }),
    artifactStore: new LocalArtifactStore({ path: join(home, dir), name: `${name}-artifacts` }),
  });

describe("cache across artifact stores", () => {
  it("treats a cached output that lives in another artifact store as a cache miss", async () => {
    const first = await doubled.run({}, { stack: stackOn("store_a", "artifacts-a") });
    expect(first.status).toBe("completed");

    const other = await doubled.run({}, { stack: stackOn("store_b", "artifacts-b") });
    expect(other.error).toBe(null);
    expect(other.steps.map((s) => s.status)).toEqual(["completed"]);
    expect(await other.output()).toBe(42);

    // Same store again (a new object with the same config): the earlier output is reused.
    const again = await doubled.run({}, { stack: stackOn("store_a2", "artifacts-a") });
    expect(again.steps.map((s) => s.status)).toEqual(["cached"]);
    expect(await again.output()).toBe(42);
  });
});
