// The recorder is the engine's only way to write: the first store error stops the run.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore, step } from "weir";
import { openMetadataStore } from "../../src/config/home.js";
import { RunEngine } from "../../src/engine/run-engine.js";
import { defaultMaterializers } from "../../src/materializers/registry.js";
import { InProcessLauncher } from "../../src/orchestrators/local/local-orchestrator.js";
import type { Stack } from "../../src/stack/stack.js";
import type { MetadataStore, StepRunWriter } from "../../src/stores/metadata/types.js";
import { sleep, useTempHome } from "../helpers.js";

const home = useTempHome();

/** The real store, with the creation of one invocation id's step run failing (through either write path). */
function failingCreate(store: MetadataStore, invocationId: string): MetadataStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === "createStepRun") {
        return (stepRun: { invocationId: string }) =>
          stepRun.invocationId === invocationId ? Promise.reject(new Error("disk full")) : target.createStepRun(stepRun as never);
      }
      if (key === "stepRunWriter" && target.stepRunWriter) {
        return (failed: (error: unknown) => void): StepRunWriter => {
          const writer = target.stepRunWriter!(failed);
          return {
            ...writer,
            // Reported through `failed`, as the store reports a failed write (before the writes about that step run fail too).
            create: (stepRun) => (stepRun.invocationId === invocationId ? queueMicrotask(() => failed(new Error("disk full"))) : writer.create(stepRun)),
          };
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The real store, keeping the step-run status writes it is given (updateStepRun and completeStepRun). */
function recordingWrites(store: MetadataStore, writes: { call: string; stepRunId: string; args: Record<string, unknown> }[]): MetadataStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === "updateStepRun") {
        return (id: string, patch: Record<string, unknown>) => (writes.push({ call: "update", stepRunId: id, args: patch }), target.updateStepRun(id, patch));
      }
      if (key === "completeStepRun") {
        return (completion: { stepRunId: string }) => (writes.push({ call: "complete", stepRunId: completion.stepRunId, args: completion }), target.completeStepRun(completion as never));
      }
      if (key === "stepRunWriter" && target.stepRunWriter) {
        return (failed: (error: unknown) => void): StepRunWriter => {
          const writer = target.stepRunWriter!(failed);
          return {
            ...writer,
            update: (id, patch) => (writes.push({ call: "update", stepRunId: id, args: patch }), writer.update(id, patch)),
            complete: (completion, ignored) => (
              writes.push({ call: "complete", stepRunId: completion.stepRunId, args: completion as never }), writer.complete(completion, ignored)
            ),
          };
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function engineOn(pipelineName: string, wrap: (store: MetadataStore) => MetadataStore): Promise<{ engine: RunEngine; store: MetadataStore; runId: string }> {
  const store = await openMetadataStore();
  const snapshot = await store.createSnapshot({ pipelineName, isDynamic: true, parameters: {}, source: { module: "", exportName: pipelineName }, spec: { steps: {} } });
  const run = await store.createRun({ name: pipelineName, pipelineName, snapshotId: snapshot.id, stackName: "default", isDynamic: true, enableCache: false, status: "running" });
  const artifactStore = new LocalArtifactStore({ path: join(home, `${pipelineName}-artifacts`), name: "recorder" });
  const engine = new RunEngine({
    runId: run.id,
    pipelineName,
    isDynamic: true,
    enableCache: false,
    store: wrap(store),
    artifacts: artifactStore,
    materializers: defaultMaterializers(),
    launcher: new InProcessLauncher({ artifactStore } as unknown as Stack, 8),
    recordConfigurations: true,
  });
  return { engine, store, runId: run.id };
}

describe("the run recorder", () => {
  it("folds the start of an attempt that ends in its turn into the completion, and records a longer one as running while it runs", async () => {
    const tiny = step({ name: "rec_tiny" }, (x: number) => x + 1);
    const long = step({ name: "rec_long" }, async (x: number) => {
      await sleep(300);
      return x * 2;
    });
    const writes: { call: string; stepRunId: string; args: Record<string, unknown> }[] = [];
    const { engine, store, runId } = await engineOn("recorder_folds", (s) => recordingWrites(s, writes));
    let whileLong: string | undefined;
    const output = await engine.run(async () => {
      const first = tiny(1);
      const second = long(5);
      await sleep(150);
      whileLong = (await store.listStepRuns(runId)).find((s) => s.invocationId === "rec_long")?.status;
      return [await first, await second];
    }, {});
    expect(output.output).toEqual([2, 10]);
    expect(whileLong).toBe("running");
    const steps = await store.listStepRuns(runId);
    const tinyRun = steps.find((s) => s.invocationId === "rec_tiny")!;
    const longRun = steps.find((s) => s.invocationId === "rec_long")!;
    // The tiny step: no "running" write, one completion that carries the start.
    expect(writes.filter((w) => w.stepRunId === tinyRun.id).map((w) => w.call)).toEqual(["complete"]);
    expect(writes.find((w) => w.stepRunId === tinyRun.id)!.args.started).toMatchObject({ startedAt: expect.any(Number) });
    expect(writes.filter((w) => w.stepRunId === longRun.id).map((w) => w.call)).toEqual(["update", "complete"]);
    for (const run of [tinyRun, longRun]) {
      expect(run).toMatchObject({ status: "completed", attempt: 1, error: null });
      expect(run.startedAt).toBeGreaterThan(0);
      expect(run.endedAt!).toBeGreaterThanOrEqual(run.startedAt!);
    }
    expect(longRun.endedAt! - longRun.startedAt!).toBeGreaterThanOrEqual(250);
  });

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
