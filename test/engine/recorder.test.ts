// The recorder is the engine's only way to write: the first store error stops the run.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore, step } from "weir";
import { openMetadataStore } from "../../src/config/home.js";
import { RunEngine } from "../../src/engine/run-engine.js";
import { defaultMaterializers } from "../../src/materializers/registry.js";
import { InProcessLauncher } from "../../src/orchestrators/local/local-orchestrator.js";
import type { Stack } from "../../src/stack/stack.js";
import type { MetadataStore } from "../../src/stores/metadata/types.js";
import { sleep, useTempHome } from "../helpers.js";

const home = useTempHome();

/** The real store, with `createStepRun` failing for one invocation id. */
function failingCreate(store: MetadataStore, invocationId: string): MetadataStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === "createStepRun") {
        return (stepRun: { invocationId: string }) =>
          stepRun.invocationId === invocationId ? Promise.reject(new Error("disk full")) : target.createStepRun(stepRun as never);
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("the run recorder", () => {
  it("stops the run at the first store error: nothing new launches, and the run fails with that error", async () => {
    const launched: string[] = [];
    const quick = step({ name: "rec_quick" }, (name: string) => {
      launched.push(name);
      return name;
    });
    const slow = step({ name: "rec_slow" }, async () => {
      launched.push("slow");
      await sleep(150);
      return "slow";
    });
    const store = await openMetadataStore();
    const snapshot = await store.createSnapshot({
      pipelineName: "recorder_stops",
      isDynamic: true,
      parameters: {},
      source: { module: "", exportName: "recorder_stops" },
      spec: { steps: {} },
    });
    const run = await store.createRun({
      name: "recorder-stops",
      pipelineName: "recorder_stops",
      snapshotId: snapshot.id,
      stackName: "default",
      isDynamic: true,
      enableCache: false,
      status: "running",
    });
    const artifactStore = new LocalArtifactStore({ path: join(home, "recorder-artifacts"), name: "recorder" });
    const engine = new RunEngine({
      runId: run.id,
      pipelineName: "recorder_stops",
      isDynamic: true,
      enableCache: false,
      store: failingCreate(store, "rec_quick_2"),
      artifacts: artifactStore,
      materializers: defaultMaterializers(),
      launcher: new InProcessLauncher({ artifactStore } as unknown as Stack, 8),
      recordConfigurations: true,
    });
    let laterCall: unknown;
    const outcome = engine.run(async () => {
      const waiting = quick(slow()); // pending until slow ends, after the store error
      quick("unrecorded"); // recording this step run fails
      await sleep(60);
      try {
        quick("later");
      } catch (error) {
        laterCall = error;
      }
      return waiting;
    }, {});
    await expect(outcome).rejects.toThrow("disk full");
    expect((laterCall as Error | undefined)?.message).toBe("disk full");
    expect(launched).not.toContain("later");
    const steps = await store.listStepRuns(run.id);
    const waiting = steps.find((s) => s.invocationId === "rec_quick")!;
    expect(waiting.status).toBe("skipped");
    expect(launched.filter((name) => name === "slow")).toHaveLength(1);
  });
});
