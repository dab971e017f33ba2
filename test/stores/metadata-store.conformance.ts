/**
 * The behaviour every MetadataStore backend must share. Each backend's test file calls
 * `metadataStoreConformance` with a way to open a store on an empty database.
 *
 * Tests that depend on "newest" wait a few milliseconds between writes so creation times
 * differ: ordering within one millisecond is left to each backend.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  ArtifactVersionRecord,
  CacheHitRecords,
  MetadataStore,
  NewArtifactVersion,
  NewRun,
  NewStepRun,
  RunRecord,
  StepOutputLink,
  StepRunRecord,
} from "../../src/stores/metadata/types.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

export interface ConformanceBackend {
  /** A store on a new, empty database (migrated or not: the suite migrates it). */
  open: () => Promise<MetadataStore>;
  /** A second store (another connection) on the database of `first`, as another process would open it. */
  openSecond: (first: MetadataStore) => Promise<MetadataStore>;
  /** Runs once after the whole suite. */
  cleanup?: () => Promise<void>;
}

export function metadataStoreConformance(name: string, backend: ConformanceBackend): void {
  const { open, openSecond, cleanup } = backend;
  describe(`MetadataStore conformance: ${name}`, () => {
    let store: MetadataStore;

    beforeEach(async () => {
      store = await open();
      await store.migrate();
    });
    afterEach(async () => {
      await store.close();
    });
    if (cleanup) afterAll(cleanup);

    async function seedRun(pipelineName = "training", overrides: Partial<NewRun> = {}): Promise<RunRecord> {
      const snapshot = await store.createSnapshot({
        pipelineName,
        isDynamic: false,
        parameters: {},
        source: { module: "./pipelines.js", exportName: pipelineName },
        spec: null,
      });
      return store.createRun({
        name: `${pipelineName}-${randomUUID().slice(0, 8)}`,
        pipelineName,
        snapshotId: snapshot.id,
        stackName: "default",
        isDynamic: false,
        enableCache: true,
        ...overrides,
      });
    }

    function seedStepRun(
      runId: string,
      invocationId: string,
      overrides: Partial<NewStepRun> = {},
    ): Promise<StepRunRecord> {
      return store.createStepRun({
        runId,
        invocationId,
        stepName: invocationId.replace(/(_\d+|\[.*\])$/, ""),
        position: 0,
        upstream: [],
        parameters: {},
        ...overrides,
      });
    }

    function newArtifact(artifactName: string, overrides: Partial<NewArtifactVersion> = {}): NewArtifactVersion {
      return {
        artifactName,
        uri: `file:///artifacts/${randomUUID()}`,
        dataType: "object",
        materializer: "json",
        contentHash: `sha256:${randomUUID()}`,
        size: 42,
        ...overrides,
      };
    }

    /** Streams one new version as a step output, naming its id in both places. */
    function addOutput(
      stepRunId: string,
      artifactName: string,
      link: Partial<StepOutputLink> = {},
      artifact: Partial<NewArtifactVersion> = {},
    ): Promise<ArtifactVersionRecord> {
      const id = randomUUID();
      return store.addStepOutput(newArtifact(artifactName, { id, ...artifact }), {
        stepRunId,
        artifactVersionId: id,
        outputName: "output",
        mappingKey: null,
        position: 0,
        ...link,
      });
    }

    describe("migrations", () => {
      it("names its dialect", () => {
        expect(["sqlite", "postgres"]).toContain(store.dialect);
      });

      it("migrate() is idempotent and keeps existing data", async () => {
        const run = await seedRun();
        await store.migrate();
        await store.migrate();
        expect(await store.getRun(run.id)).toEqual(run);
        expect(await store.getSnapshot(run.snapshotId)).toBeDefined();
      });
    });

    describe("snapshots", () => {
      it("round-trips static and dynamic snapshots with their JSON", async () => {
        const spec = {
          steps: {
            load: { step: "load", upstream: [], outputs: ["rows"] },
            train: { step: "train", upstream: ["load"], parameters: { lr: 0.01, layers: [64, 32], note: null } },
          },
          output: { $artifact: "train.model" },
          label: "énergie ✓",
        };
        const static_ = await store.createSnapshot({
          pipelineName: "training",
          isDynamic: false,
          parameters: { epochs: 3, tags: ["a", "b"] },
          source: { module: "./pipelines/training.js", exportName: "training" },
          spec,
        });
        const dynamic = await store.createSnapshot({
          pipelineName: "training",
          isDynamic: true,
          parameters: {},
          source: { module: "./pipelines/training.js" },
          spec: null,
        });
        const other = await store.createSnapshot({
          pipelineName: "scoring",
          isDynamic: false,
          parameters: {},
          source: { module: "./pipelines/scoring.js" },
          spec: {},
        });

        expect(static_).toMatchObject({
          pipelineName: "training",
          isDynamic: false,
          parameters: { epochs: 3, tags: ["a", "b"] },
          source: { module: "./pipelines/training.js", exportName: "training" },
          spec,
        });
        expect(static_.createdAt).toBeGreaterThan(Date.now() - 60_000);
        expect(await store.getSnapshot(static_.id)).toEqual(static_);

        const loaded = await store.getSnapshot(dynamic.id);
        expect(loaded).toEqual(dynamic);
        expect(loaded?.isDynamic).toBe(true);
        expect(loaded?.spec).toBeNull();
        expect(loaded?.source).toEqual({ module: "./pipelines/training.js" });

        // One pipeline row per name.
        expect(dynamic.pipelineId).toBe(static_.pipelineId);
        expect(other.pipelineId).not.toBe(static_.pipelineId);
        expect(new Set([static_.id, dynamic.id, other.id]).size).toBe(3);
      });

      it("returns undefined for an unknown snapshot", async () => {
        expect(await store.getSnapshot(randomUUID())).toBeUndefined();
      });
    });

    describe("step configurations", () => {
      it("lists the configurations a snapshot owns", async () => {
        const run = await seedRun();
        await store.createStepConfigurations([
          { snapshotId: run.snapshotId, invocationId: "train", stepName: "train", config: { retries: 2 } },
          { snapshotId: run.snapshotId, invocationId: "load", stepName: "load", config: { cache: false } },
        ]);
        const configs = await store.listStepConfigurations({ snapshotId: run.snapshotId });
        const owned = { snapshotId: run.snapshotId, stepRunId: null };
        expect(configs.map(({ id: _id, ...rest }) => rest)).toEqual([
          { ...owned, invocationId: "load", stepName: "load", config: { cache: false } },
          { ...owned, invocationId: "train", stepName: "train", config: { retries: 2 } },
        ]);
        expect(configs[0].id).not.toBe(configs[1].id);

        const other = await seedRun("scoring");
        expect(await store.listStepConfigurations({ snapshotId: other.snapshotId })).toEqual([]);
      });

      it("lists a static snapshot's configurations from its spec when it has no rows", async () => {
        // weir writes a static snapshot's step configurations once, in its spec's `steps`.
        const steps = {
          train: { stepName: "train", invocationId: "train", upstream: ["load"], settings: { retry: { maxRetries: 2 } } },
          load: { stepName: "load", invocationId: "load", upstream: [], settings: {} },
          load_2: { stepName: "load", invocationId: "load_2", upstream: [], settings: {} },
        };
        const snapshotOf = (isDynamic: boolean) =>
          store.createSnapshot({
            pipelineName: "from_spec",
            isDynamic,
            parameters: {},
            source: { module: "./pipelines.js", exportName: "from_spec" },
            spec: { steps },
          });
        const snapshot = await snapshotOf(false);
        const configs = await store.listStepConfigurations({ snapshotId: snapshot.id });
        expect(configs.map(({ id: _id, ...rest }) => rest)).toEqual(
          ["load", "load_2", "train"].map((invocationId) => ({
            snapshotId: snapshot.id,
            stepRunId: null,
            invocationId,
            stepName: steps[invocationId as keyof typeof steps].stepName,
            config: steps[invocationId as keyof typeof steps],
          })),
        );
        expect(new Set(configs.map((c) => c.id)).size).toBe(3);

        // Rows, where a snapshot has them (written by older versions), are what is listed.
        await store.createStepConfigurations([{ snapshotId: snapshot.id, invocationId: "train", stepName: "train", config: { old: true } }]);
        expect((await store.listStepConfigurations({ snapshotId: snapshot.id })).map((c) => c.config)).toEqual([{ old: true }]);

        // A dynamic snapshot has no step configurations of its own, whatever its spec says.
        const dynamic = await snapshotOf(true);
        expect(await store.listStepConfigurations({ snapshotId: dynamic.id })).toEqual([]);
        expect(await store.listStepConfigurations({ snapshotId: randomUUID() })).toEqual([]);
      });

      it("lists the configurations a step run owns, including one written by createStepRun", async () => {
        const run = await seedRun("dynamic", { isDynamic: true });
        const step = await seedStepRun(run.id, "split", { configuration: { image: "python:3.12" } });
        const other = await seedStepRun(run.id, "merge");
        await store.createStepConfigurations([
          { stepRunId: other.id, invocationId: "merge", stepName: "merge", config: { retries: 1 } },
        ]);

        const configs = await store.listStepConfigurations({ stepRunId: step.id });
        expect(configs).toHaveLength(1);
        expect(configs[0]).toMatchObject({
          snapshotId: null,
          stepRunId: step.id,
          invocationId: "split",
          stepName: "split",
          config: { image: "python:3.12" },
        });
        expect(await store.listStepConfigurations({ stepRunId: other.id })).toMatchObject([
          { stepRunId: other.id, config: { retries: 1 } },
        ]);
        // Step-run configurations do not show up under the snapshot.
        expect(await store.listStepConfigurations({ snapshotId: run.snapshotId })).toEqual([]);
      });

      it("rejects a configuration owned by both or neither, and writes nothing of the batch", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train");
        const both = {
          snapshotId: run.snapshotId,
          stepRunId: step.id,
          invocationId: "train",
          stepName: "train",
          config: {},
        };
        const neither = { invocationId: "train", stepName: "train", config: {} };

        await expect(store.createStepConfigurations([both as any])).rejects.toThrow();
        await expect(store.createStepConfigurations([neither as any])).rejects.toThrow();
        await expect(
          store.createStepConfigurations([
            { snapshotId: run.snapshotId, invocationId: "load", stepName: "load", config: {} },
            both as any,
          ]),
        ).rejects.toThrow();

        expect(await store.listStepConfigurations({ snapshotId: run.snapshotId })).toEqual([]);
        expect(await store.listStepConfigurations({ stepRunId: step.id })).toEqual([]);
      });

      it("rejects a configuration for an unknown snapshot", async () => {
        await expect(
          store.createStepConfigurations([{ snapshotId: randomUUID(), invocationId: "a", stepName: "a", config: {} }]),
        ).rejects.toThrow();
      });
    });

    describe("runs", () => {
      it("creates a run with defaults and reads it back", async () => {
        const snapshot = await store.createSnapshot({
          pipelineName: "training",
          isDynamic: true,
          parameters: {},
          source: { module: "./p.js" },
          spec: null,
        });
        const id = randomUUID();
        const run = await store.createRun({
          id,
          name: "training-1",
          pipelineName: "training",
          snapshotId: snapshot.id,
          stackName: "local",
          isDynamic: true,
          enableCache: false,
        });
        expect(run).toEqual({
          id,
          name: "training-1",
          pipelineName: "training",
          snapshotId: snapshot.id,
          stackName: "local",
          isDynamic: true,
          status: "initializing",
          orchestratorRunId: null,
          createdAt: expect.any(Number),
          startedAt: null,
          endedAt: null,
          error: null,
          output: null,
          enableCache: false,
          fingerprint: null,
          heartbeatAt: null,
          owner: null,
          scheduleName: null,
          scheduledFor: null,
          cancelRequestedAt: null,
          seq: expect.any(Number),
        });
        expect(await store.getRun(id)).toEqual(run);
      });

      it("makes an id when none is given, and starts a run created as running", async () => {
        const run = await seedRun("training", { status: "running" });
        expect(run.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(run.status).toBe("running");
        expect(run.startedAt).toBe(run.createdAt);
        expect(await store.getRun(run.id)).toEqual(run);
      });

      it("applies patches field by field", async () => {
        const run = await seedRun();
        const output = { model: { $artifact: randomUUID() }, metrics: [{ $artifact: randomUUID() }], score: 0.9 };
        await store.updateRun(run.id, {
          status: "running",
          orchestratorRunId: "orch-123",
          startedAt: 1_700_000_000_000,
          fingerprint: "fp-abc",
          heartbeatAt: 1_700_000_000_500,
          owner: "host:1234",
        });
        await store.updateRun(run.id, { status: "failed", endedAt: 1_700_000_001_000, error: "boom", output });

        expect(await store.getRun(run.id)).toEqual({
          ...run,
          status: "failed",
          orchestratorRunId: "orch-123",
          startedAt: 1_700_000_000_000,
          endedAt: 1_700_000_001_000,
          error: "boom",
          output,
          fingerprint: "fp-abc",
          heartbeatAt: 1_700_000_000_500,
          owner: "host:1234",
          seq: expect.any(Number),
        });

        // null clears a field; undefined leaves it alone.
        await store.updateRun(run.id, { error: null, owner: undefined });
        const updated = await store.getRun(run.id);
        expect(updated?.error).toBeNull();
        expect(updated?.owner).toBe("host:1234");
      });

      it("rejects updating an unknown run and returns undefined for it", async () => {
        await expect(store.updateRun(randomUUID(), { status: "running" })).rejects.toThrow();
        expect(await store.getRun(randomUUID())).toBeUndefined();
      });

      it("rejects a run whose snapshot does not exist", async () => {
        await expect(
          store.createRun({
            name: "x",
            pipelineName: "training",
            snapshotId: randomUUID(),
            stackName: "default",
            isDynamic: false,
            enableCache: true,
          }),
        ).rejects.toThrow();
      });

      it("lists runs newest first, filtered by pipeline and status, with a limit", async () => {
        const a1 = await seedRun("training");
        await tick();
        const b1 = await seedRun("scoring");
        await tick();
        const a2 = await seedRun("training", { status: "running" });
        await tick();
        const a3 = await seedRun("training");
        await store.updateRun(a3.id, { status: "completed" });
        await store.updateRun(a1.id, { status: "completed" });

        const ids = (runs: RunRecord[]) => runs.map((r) => r.id);
        expect(ids(await store.listRuns())).toEqual([a3.id, a2.id, b1.id, a1.id]);
        expect(ids(await store.listRuns({ pipelineName: "training" }))).toEqual([a3.id, a2.id, a1.id]);
        expect(ids(await store.listRuns({ status: "completed" }))).toEqual([a3.id, a1.id]);
        expect(ids(await store.listRuns({ pipelineName: "training", status: "running" }))).toEqual([a2.id]);
        expect(ids(await store.listRuns({ limit: 2 }))).toEqual([a3.id, a2.id]);
        expect(ids(await store.listRuns({ pipelineName: "training", limit: 1 }))).toEqual([a3.id]);
        expect(await store.listRuns({ pipelineName: "missing" })).toEqual([]);

        const [newest] = await store.listRuns({ limit: 1 });
        expect(newest).toEqual({ ...a3, status: "completed", seq: expect.any(Number) });
      });
    });

    describe("step runs", () => {
      it("creates a step run with defaults and finds it by id and by invocation id", async () => {
        const run = await seedRun();
        const id = randomUUID();
        const step = await store.createStepRun({
          id,
          runId: run.id,
          invocationId: "train_2",
          stepName: "train",
          position: 3,
          upstream: ["load", "split"],
          parameters: { lr: 0.1, layers: [8, 4] },
        });
        expect(step).toEqual({
          id,
          runId: run.id,
          invocationId: "train_2",
          stepName: "train",
          status: "pending",
          attempt: 0,
          mappingKey: null,
          cacheKey: null,
          originalStepRunId: null,
          position: 3,
          upstream: ["load", "split"],
          parameters: { lr: 0.1, layers: [8, 4] },
          createdAt: expect.any(Number),
          startedAt: null,
          endedAt: null,
          error: null,
          metadata: {},
          seq: expect.any(Number),
        });
        expect(step.seq).toBeGreaterThan(run.seq);
        expect(await store.getStepRun(id)).toEqual(step);
        expect(await store.findStepRun(run.id, "train_2")).toEqual(step);
        expect(await store.findStepRun(run.id, "train")).toBeUndefined();
        expect(await store.getStepRun(randomUUID())).toBeUndefined();
      });

      it("starts the first attempt of a step run created as running, and keeps its mapping key", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "score[3]", { status: "running", mappingKey: "3" });
        expect(step).toMatchObject({ status: "running", attempt: 1, mappingKey: "3", startedAt: step.createdAt });
        expect(await store.getStepRun(step.id)).toEqual(step);
      });

      it("lists a run's step runs by position", async () => {
        const run = await seedRun();
        const other = await seedRun();
        const c = await seedStepRun(run.id, "c", { position: 2 });
        const a = await seedStepRun(run.id, "a", { position: 0 });
        const b = await seedStepRun(run.id, "b", { position: 1 });
        await seedStepRun(other.id, "a", { position: 0 });

        expect(await store.listStepRuns(run.id)).toEqual([a, b, c]);
        expect(await store.listStepRuns(randomUUID())).toEqual([]);
      });

      it("rejects a second step run with the same invocation id in a run", async () => {
        const run = await seedRun();
        const first = await seedStepRun(run.id, "train");
        const duplicateId = randomUUID();
        await expect(
          seedStepRun(run.id, "train", { id: duplicateId, position: 1, configuration: { retries: 3 } }),
        ).rejects.toThrow();
        expect(await store.getStepRun(duplicateId)).toBeUndefined();
        expect(await store.listStepConfigurations({ stepRunId: duplicateId })).toEqual([]);
        expect(await store.listStepRuns(run.id)).toEqual([first]);

        // The key is per run.
        const other = await seedRun();
        await expect(seedStepRun(other.id, "train")).resolves.toMatchObject({ invocationId: "train" });
      });

      it("rejects a step run for an unknown run", async () => {
        await expect(seedStepRun(randomUUID(), "train")).rejects.toThrow();
      });

      it("applies patches field by field", async () => {
        const run = await seedRun();
        const original = await seedStepRun(run.id, "load");
        const step = await seedStepRun(run.id, "train", { position: 1 });
        await store.updateStepRun(step.id, { status: "running", attempt: 1, startedAt: 1_000 });
        await store.updateStepRun(step.id, {
          status: "failed",
          attempt: 2,
          cacheKey: "key-1",
          originalStepRunId: original.id,
          endedAt: 2_000,
          error: "Error: boom\n    at train",
          metadata: { rows: 10, tags: { a: "b" } },
          upstream: ["load", "split[a]"],
        });
        expect(await store.getStepRun(step.id)).toEqual({
          ...step,
          status: "failed",
          attempt: 2,
          cacheKey: "key-1",
          originalStepRunId: original.id,
          startedAt: 1_000,
          endedAt: 2_000,
          error: "Error: boom\n    at train",
          metadata: { rows: 10, tags: { a: "b" } },
          upstream: ["load", "split[a]"],
          seq: expect.any(Number),
        });
        expect((await store.getStepRun(step.id))!.seq).toBeGreaterThan(step.seq);
        await expect(store.updateStepRun(randomUUID(), { status: "running" })).rejects.toThrow();
      });
    });

    describe("completing step runs", () => {
      it("writes the status, new artifact versions and output links together", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train", { status: "running" });
        const modelId = randomUUID();
        const metricsId = randomUUID();
        await store.completeStepRun({
          stepRunId: step.id,
          status: "completed",
          endedAt: 5_000,
          cacheKey: "ck-train",
          metadata: { durationMs: 12 },
          newArtifacts: [
            newArtifact("training::train::model", { id: modelId, metadata: { framework: "onnx" } }),
            newArtifact("training::train::metrics", { id: metricsId }),
          ],
          outputs: [
            { artifactVersionId: metricsId, outputName: "metrics", mappingKey: null, position: 1 },
            { artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 },
          ],
        });

        expect(await store.getStepRun(step.id)).toEqual({
          ...step,
          status: "completed",
          endedAt: 5_000,
          cacheKey: "ck-train",
          metadata: { durationMs: 12 },
          seq: expect.any(Number),
        });
        expect(await store.listStepOutputs(step.id)).toEqual([
          { stepRunId: step.id, artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 },
          { stepRunId: step.id, artifactVersionId: metricsId, outputName: "metrics", mappingKey: null, position: 1 },
        ]);
        expect(await store.getArtifactVersion(modelId)).toMatchObject({
          artifactName: "training::train::model",
          version: 1,
          metadata: { framework: "onnx" },
        });
        expect(await store.getArtifactVersion(metricsId)).toMatchObject({ version: 1, metadata: {} });
      });

      it("writes nothing when any part of the completion fails", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train", { status: "running" });
        const modelId = randomUUID();
        await expect(
          store.completeStepRun({
            stepRunId: step.id,
            status: "completed",
            endedAt: 5_000,
            cacheKey: "ck-train",
            metadata: { durationMs: 12 },
            newArtifacts: [newArtifact("training::train::model", { id: modelId }), newArtifact("training::train::aux")],
            outputs: [
              { artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 },
              // Names a version that does not exist: the whole completion must roll back.
              { artifactVersionId: randomUUID(), outputName: "aux", mappingKey: null, position: 1 },
            ],
          }),
        ).rejects.toThrow();

        expect(await store.getStepRun(step.id)).toEqual(step);
        expect(await store.getArtifactVersion(modelId)).toBeUndefined();
        expect(await store.listArtifactVersions({ artifactName: "training::train::model" })).toEqual([]);
        expect(await store.listArtifactVersions({ artifactName: "training::train::aux" })).toEqual([]);
        expect(await store.listStepOutputs(step.id)).toEqual([]);

        // A retry of the completion still gets version 1.
        await store.completeStepRun({
          stepRunId: step.id,
          status: "completed",
          endedAt: 6_000,
          newArtifacts: [newArtifact("training::train::model", { id: modelId })],
          outputs: [{ artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 }],
        });
        expect(await store.getArtifactVersion(modelId)).toMatchObject({ version: 1 });
        expect((await store.getStepRun(step.id))?.status).toBe("completed");
      });

      it("rejects completing an unknown step run without writing its artifacts", async () => {
        const id = randomUUID();
        await expect(
          store.completeStepRun({
            stepRunId: randomUUID(),
            status: "completed",
            endedAt: 1,
            newArtifacts: [newArtifact("orphan", { id })],
            outputs: [],
          }),
        ).rejects.toThrow();
        expect(await store.getArtifactVersion(id)).toBeUndefined();
      });

      it("records a cache hit as cached, linking the original step run's versions", async () => {
        const first = await seedRun();
        const original = await seedStepRun(first.id, "train", { status: "running" });
        const modelId = randomUUID();
        await store.completeStepRun({
          stepRunId: original.id,
          status: "completed",
          endedAt: 1,
          cacheKey: "ck",
          newArtifacts: [newArtifact("training::train::model", { id: modelId })],
          outputs: [{ artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 }],
        });

        const second = await seedRun();
        const hit = await seedStepRun(second.id, "train");
        await store.completeStepRun({
          stepRunId: hit.id,
          status: "cached",
          endedAt: 2,
          cacheKey: "ck",
          originalStepRunId: original.id,
          newArtifacts: [],
          outputs: [{ artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 }],
        });

        expect(await store.getStepRun(hit.id)).toMatchObject({
          status: "cached",
          endedAt: 2,
          cacheKey: "ck",
          originalStepRunId: original.id,
        });
        expect(await store.listStepOutputs(hit.id)).toEqual([
          { stepRunId: hit.id, artifactVersionId: modelId, outputName: "model", mappingKey: null, position: 0 },
        ]);
        expect(await store.listArtifactVersions({ artifactName: "training::train::model" })).toHaveLength(1);
      });
    });

    describe("artifact versions", () => {
      it("numbers versions per artifact name", async () => {
        const run = await seedRun();
        const versions: number[] = [];
        for (let i = 0; i < 3; i++) {
          const step = await seedStepRun(run.id, `train_${i + 1}`, { position: i });
          const id = randomUUID();
          await store.completeStepRun({
            stepRunId: step.id,
            status: "completed",
            endedAt: i,
            newArtifacts: [newArtifact("training::train::model", { id }), newArtifact(`other-${i}`)],
            outputs: [{ artifactVersionId: id, outputName: "model", mappingKey: null, position: 0 }],
          });
          versions.push((await store.getArtifactVersion(id))!.version);
        }
        expect(versions).toEqual([1, 2, 3]);

        const step = await seedStepRun(run.id, "extra", { position: 9 });
        const fourth = await addOutput(step.id, "training::train::model", { outputName: "model" });
        expect(fourth.version).toBe(4);
        const fresh = await addOutput(step.id, "training::eval::report", { outputName: "report" });
        expect(fresh.version).toBe(1);
      });

      it("round-trips a version and lists versions newest first", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "load");
        const created = [];
        for (let i = 0; i < 3; i++) {
          created.push(
            await addOutput(
              step.id,
              "training::load::rows",
              { outputName: "rows", mappingKey: String(i), position: i },
              { size: 1000 + i, metadata: { shape: [i, 2] } },
            ),
          );
          await tick();
        }
        const other = await addOutput(step.id, "training::load::schema", { outputName: "schema" });

        expect(created[1]).toEqual({
          id: expect.any(String),
          artifactName: "training::load::rows",
          version: 2,
          uri: expect.stringMatching(/^file:\/\/\/artifacts\//),
          dataType: "object",
          materializer: "json",
          contentHash: expect.stringMatching(/^sha256:/),
          size: 1001,
          metadata: { shape: [1, 2] },
          createdAt: expect.any(Number),
          artifactStoreId: null,
        });
        expect(await store.getArtifactVersion(created[1].id)).toEqual(created[1]);
        expect(await store.getArtifactVersion(randomUUID())).toBeUndefined();

        const ids = (versions: { id: string }[]) => versions.map((v) => v.id);
        expect(ids(await store.listArtifactVersions())).toEqual([
          other.id,
          created[2].id,
          created[1].id,
          created[0].id,
        ]);
        expect(await store.listArtifactVersions({ artifactName: "training::load::rows" })).toEqual(
          [...created].reverse(),
        );
        expect(ids(await store.listArtifactVersions({ artifactName: "training::load::rows", limit: 2 }))).toEqual([
          created[2].id,
          created[1].id,
        ]);
        expect(await store.listArtifactVersions({ artifactName: "missing" })).toEqual([]);
      });
    });

    describe("standalone artifact versions (createArtifactVersion)", () => {
      it("creates versions that are no step's output, numbered with the rest of their name", async () => {
        const id = randomUUID();
        const first = await store.createArtifactVersion(
          newArtifact("training::output", { id, dataType: "Buffer", materializer: "bytes", size: 7 }),
        );
        expect(first).toEqual({
          id,
          artifactName: "training::output",
          version: 1,
          uri: expect.any(String),
          dataType: "Buffer",
          materializer: "bytes",
          contentHash: expect.any(String),
          size: 7,
          metadata: {},
          createdAt: expect.any(Number),
          artifactStoreId: null,
        });
        expect(await store.getArtifactVersion(id)).toEqual(first);

        const second = await store.createArtifactVersion(newArtifact("training::output", { metadata: { note: "x" } }));
        expect(second.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(second).toMatchObject({ version: 2, metadata: { note: "x" } });
        expect(await store.listArtifactVersions({ artifactName: "training::output" })).toHaveLength(2);
      });

      it("rejects a duplicate id", async () => {
        const id = randomUUID();
        await store.createArtifactVersion(newArtifact("a", { id }));
        await expect(store.createArtifactVersion(newArtifact("b", { id }))).rejects.toThrow();
        expect(await store.listArtifactVersions({ artifactName: "b" })).toEqual([]);
      });
    });

    describe("streamed outputs (addStepOutput)", () => {
      it("records a new version with its link, using the given id", async () => {
        const run = await seedRun("dynamic", { isDynamic: true });
        const step = await seedStepRun(run.id, "split", { status: "running" });
        const id = randomUUID();
        const version = await store.addStepOutput(newArtifact("dynamic::split::output", { id }), {
          stepRunId: step.id,
          artifactVersionId: id,
          outputName: "output",
          mappingKey: "a",
          position: 0,
        });
        expect(version).toMatchObject({ id, artifactName: "dynamic::split::output", version: 1 });
        expect(await store.getArtifactVersion(id)).toEqual(version);
        expect(await store.listStepOutputs(step.id)).toEqual([
          { stepRunId: step.id, artifactVersionId: id, outputName: "output", mappingKey: "a", position: 0 },
        ]);
      });

      it("links an existing version when no artifact is given, and orders outputs by position", async () => {
        const run = await seedRun("dynamic", { isDynamic: true });
        const step = await seedStepRun(run.id, "split", { status: "running" });
        const second = await addOutput(step.id, "dynamic::split::output", { mappingKey: "b", position: 1 });
        const first = await addOutput(step.id, "dynamic::split::output", { mappingKey: "a", position: 0 });
        const link = { stepRunId: step.id, outputName: "output" };
        const reused = await store.addStepOutput(null, {
          ...link,
          artifactVersionId: first.id,
          mappingKey: "c",
          position: 2,
        });
        expect(reused).toEqual(first);

        expect(await store.listStepOutputs(step.id)).toEqual([
          { ...link, artifactVersionId: first.id, mappingKey: "a", position: 0 },
          { ...link, artifactVersionId: second.id, mappingKey: "b", position: 1 },
          { ...link, artifactVersionId: first.id, mappingKey: "c", position: 2 },
        ]);
      });

      it("rejects a link to a missing version or with conflicting ids, writing nothing", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "split");
        const link = { stepRunId: step.id, outputName: "output", mappingKey: null, position: 0 };
        await expect(store.addStepOutput(null, { ...link, artifactVersionId: randomUUID() })).rejects.toThrow();
        await expect(
          store.addStepOutput(newArtifact("x", { id: randomUUID() }), { ...link, artifactVersionId: randomUUID() }),
        ).rejects.toThrow();
        expect(await store.listStepOutputs(step.id)).toEqual([]);
        expect(await store.listArtifactVersions({ artifactName: "x" })).toEqual([]);

        // An unknown step run rolls back the new version too.
        const id = randomUUID();
        await expect(
          store.addStepOutput(newArtifact("x", { id }), { ...link, stepRunId: randomUUID(), artifactVersionId: id }),
        ).rejects.toThrow();
        expect(await store.getArtifactVersion(id)).toBeUndefined();
      });
    });

    describe("resuming step runs (resetStepRun)", () => {
      it("puts an unfinished step run back to pending and drops its outputs, keeping the attempt count", async () => {
        const run = await seedRun("dynamic", { isDynamic: true });
        const producer = await seedStepRun(run.id, "load");
        const rows = await addOutput(producer.id, "rows");
        const step = await seedStepRun(run.id, "split", { status: "running", position: 1 });
        await store.addStepInputs([{ stepRunId: step.id, artifactVersionId: rows.id, inputName: "arg0" }]);
        const streamed = await addOutput(step.id, "dynamic::split::output", { mappingKey: "a" });
        await store.updateStepRun(step.id, { status: "failed", attempt: 2, endedAt: 9_000, error: "killed" });

        await store.resetStepRun(step.id);

        expect(await store.getStepRun(step.id)).toEqual({
          ...step,
          status: "pending",
          attempt: 2,
          endedAt: null,
          error: null,
          seq: expect.any(Number),
        });
        expect(await store.listStepOutputs(step.id)).toEqual([]);
        // The version itself stays: only the link of the unfinished attempt goes.
        expect(await store.getArtifactVersion(streamed.id)).toEqual(streamed);

        // The next attempt records its inputs and outputs again from position 0.
        const rowsAgain = await addOutput(producer.id, "rows", { position: 1 });
        await store.addStepInputs([{ stepRunId: step.id, artifactVersionId: rowsAgain.id, inputName: "arg0" }]);
        expect(await store.listStepInputs(step.id)).toEqual([
          { stepRunId: step.id, artifactVersionId: rowsAgain.id, inputName: "arg0" },
        ]);
        const again = await addOutput(step.id, "dynamic::split::output", { mappingKey: "a" });
        expect(again.version).toBe(2);
        expect(await store.listStepOutputs(step.id)).toMatchObject([{ artifactVersionId: again.id, position: 0 }]);
      });

      it("refuses to reset a completed or cached step run, or an unknown one", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train", { status: "running" });
        const id = randomUUID();
        await store.completeStepRun({
          stepRunId: step.id,
          status: "completed",
          endedAt: 1,
          newArtifacts: [newArtifact("model", { id })],
          outputs: [{ artifactVersionId: id, outputName: "model", mappingKey: null, position: 0 }],
        });
        const hit = await seedStepRun(run.id, "train_2", { position: 1 });
        await store.completeStepRun({
          stepRunId: hit.id,
          status: "cached",
          endedAt: 2,
          originalStepRunId: step.id,
          newArtifacts: [],
          outputs: [{ artifactVersionId: id, outputName: "model", mappingKey: null, position: 0 }],
        });

        await expect(store.resetStepRun(step.id)).rejects.toThrow();
        await expect(store.resetStepRun(hit.id)).rejects.toThrow();
        await expect(store.resetStepRun(randomUUID())).rejects.toThrow();
        expect((await store.getStepRun(step.id))?.status).toBe("completed");
        expect(await store.listStepOutputs(step.id)).toHaveLength(1);
        expect(await store.listStepOutputs(hit.id)).toHaveLength(1);
      });
    });

    describe("step inputs", () => {
      it("records and lists a step run's inputs", async () => {
        const run = await seedRun();
        const producer = await seedStepRun(run.id, "load");
        const rows = await addOutput(producer.id, "training::load::rows", { outputName: "rows" });
        const schema = await addOutput(producer.id, "training::load::schema", { outputName: "schema", position: 1 });
        const consumer = await seedStepRun(run.id, "train", { position: 1, upstream: ["load"] });
        await store.addStepInputs([
          { stepRunId: consumer.id, artifactVersionId: schema.id, inputName: "arg1" },
          { stepRunId: consumer.id, artifactVersionId: rows.id, inputName: "arg0" },
        ]);

        expect(await store.listStepInputs(consumer.id)).toEqual([
          { stepRunId: consumer.id, artifactVersionId: rows.id, inputName: "arg0" },
          { stepRunId: consumer.id, artifactVersionId: schema.id, inputName: "arg1" },
        ]);
        expect(await store.listStepInputs(producer.id)).toEqual([]);
      });

      it("writes no input of a batch that names a missing version", async () => {
        const run = await seedRun();
        const producer = await seedStepRun(run.id, "load");
        const rows = await addOutput(producer.id, "rows", { outputName: "rows" });
        const consumer = await seedStepRun(run.id, "train", { position: 1 });
        await expect(
          store.addStepInputs([
            { stepRunId: consumer.id, artifactVersionId: rows.id, inputName: "arg0" },
            { stepRunId: consumer.id, artifactVersionId: randomUUID(), inputName: "arg1" },
          ]),
        ).rejects.toThrow();
        expect(await store.listStepInputs(consumer.id)).toEqual([]);
      });
    });

    describe("cache lookup", () => {
      it("finds the newest completed step run with the key, ignoring cached, failed and running ones", async () => {
        const run = await seedRun();
        const other = await seedRun();
        const complete = async (step: StepRunRecord, status: "completed" | "cached", key: string) =>
          store.completeStepRun({
            stepRunId: step.id,
            status,
            endedAt: Date.now(),
            cacheKey: key,
            newArtifacts: [],
            outputs: [],
          });

        const older = await seedStepRun(run.id, "train", { status: "running" });
        await complete(older, "completed", "K");
        await tick();
        const newer = await seedStepRun(other.id, "train", { status: "running" });
        await complete(newer, "completed", "K");
        await tick();
        const cached = await seedStepRun(run.id, "train_2");
        await complete(cached, "cached", "K");
        await tick();
        const failed = await seedStepRun(run.id, "train_3");
        await store.updateStepRun(failed.id, { status: "failed", cacheKey: "K" });
        await tick();
        const running = await seedStepRun(run.id, "train_4", { status: "running" });
        await store.updateStepRun(running.id, { cacheKey: "K" });
        await tick();
        const otherKey = await seedStepRun(run.id, "train_5", { status: "running" });
        await complete(otherKey, "completed", "L");

        const found = await store.findCachedStepRun("K");
        expect(found?.id).toBe(newer.id);
        expect(found).toEqual(await store.getStepRun(newer.id));
        expect((await store.findCachedStepRun("L"))?.id).toBe(otherKey.id);
        expect(await store.findCachedStepRun("missing")).toBeUndefined();
        // Lookups made together (a store may answer them with one query) each get their own key's answer.
        const together = await Promise.all(["K", "missing", "L", "K"].map((key) => store.findCachedStepRun(key)));
        expect(together.map((found) => found?.id)).toEqual([newer.id, undefined, otherKey.id, newer.id]);
      });

      // A lookup may be answered from committed state while writes are queued (the SQLite
      // store does, so that a cache lookup per step does not commit per step): its answer must
      // still be the one a read after every earlier write would give.
      it("sees queued (not awaited) writes that change its answer, and no others change it", async () => {
        const run = await seedRun();
        const done = (step: StepRunRecord, cacheKey?: string) =>
          store.completeStepRun({ stepRunId: step.id, status: "completed", endedAt: Date.now(), cacheKey, newArtifacts: [], outputs: [] });

        // A completion with the key, queued just before the lookup.
        const first = await seedStepRun(run.id, "a", { status: "running" });
        void done(first, "K");
        expect((await store.findCachedStepRun("K"))?.id).toBe(first.id);

        // Unrelated queued writes leave the answer alone, and it is the row as stored.
        const unrelated = await seedStepRun(run.id, "b", { status: "running" });
        void done(unrelated, "other");
        void store.updateStepRun(unrelated.id, { metadata: { n: 1 } });
        expect(await store.findCachedStepRun("K")).toEqual(await store.getStepRun(first.id));

        // A queued change to the answer itself (its metadata, then its status).
        void store.updateStepRun(first.id, { metadata: { rows: 3 } });
        expect((await store.findCachedStepRun("K"))?.metadata).toEqual({ rows: 3 });
        void store.updateStepRun(first.id, { status: "failed" });
        expect(await store.findCachedStepRun("K")).toBeUndefined();

        // A completion that does not say its key, of a step run whose stored key is the one looked up.
        const keyed = await seedStepRun(run.id, "c", { status: "running" });
        await store.updateStepRun(keyed.id, { cacheKey: "K" });
        void store.updateStepRun(keyed.id, { status: "completed" });
        expect((await store.findCachedStepRun("K"))?.id).toBe(keyed.id);

        // A newer completion with the key wins as soon as it is queued; a queued run deletion removes both.
        const newer = await seedStepRun(run.id, "d", { status: "running" });
        void done(newer, "K");
        expect((await store.findCachedStepRun("K"))?.id).toBe(newer.id);
        void store.deleteRun(run.id);
        expect(await store.findCachedStepRun("K")).toBeUndefined();
      });

      it("sees a step run created, run and completed in one batch with the key", async () => {
        const run = await seedRun();
        const id = randomUUID();
        void store.createStepRun({ id, runId: run.id, invocationId: "fresh", stepName: "fresh", position: 0, upstream: [], parameters: {} });
        void store.updateStepRun(id, { status: "running", attempt: 1, startedAt: Date.now() });
        void store.completeStepRun({ stepRunId: id, status: "completed", endedAt: Date.now(), cacheKey: "fresh-key", newArtifacts: [], outputs: [] });
        expect((await store.findCachedStepRun("fresh-key"))?.id).toBe(id);
      });

      // What a cache hit reads: the step run, its outputs in order, their versions. A store may
      // answer in one read (findCacheHitRecords); it must be what the separate reads answer.
      it("gives a cache hit's outputs and their versions, queued writes included", async () => {
        const separately = async (key: string): Promise<CacheHitRecords | undefined> => {
          const original = await store.findCachedStepRun(key);
          if (!original) return undefined;
          const links = await store.listStepOutputs(original.id);
          return { original, outputs: await Promise.all(links.map(async (link) => ({ link, version: await store.getArtifactVersion(link.artifactVersionId) }))) };
        };
        const hit = async (key: string) => {
          const answer = store.findCacheHitRecords ? await store.findCacheHitRecords(key) : await separately(key);
          if (store.findCacheHitRecords) expect(answer).toEqual(await separately(key));
          return answer;
        };
        const run = await seedRun();
        const step = await seedStepRun(run.id, "split", { status: "running" });
        const [left, right] = [randomUUID(), randomUUID()];
        // Queued, not awaited: the hit must see the completion and its two new versions.
        void store.completeStepRun({
          stepRunId: step.id,
          status: "completed",
          endedAt: Date.now(),
          cacheKey: "H",
          newArtifacts: [newArtifact("split::right", { id: right }), newArtifact("split::left", { id: left })],
          outputs: [
            { artifactVersionId: right, outputName: "output", mappingKey: "b", position: 1 },
            { artifactVersionId: left, outputName: "output", mappingKey: "a", position: 0 },
          ],
        });
        const found = await hit("H");
        expect(found?.original).toEqual(await store.getStepRun(step.id));
        expect(found?.outputs.map(({ link, version }) => [link.position, link.mappingKey, version?.id, version?.artifactName])).toEqual([
          [0, "a", left, "split::left"],
          [1, "b", right, "split::right"],
        ]);
        expect(found?.outputs[0].version).toEqual(await store.getArtifactVersion(left));

        // A hit without outputs, and no hit.
        const bare = await seedStepRun(run.id, "bare", { status: "running" });
        await store.completeStepRun({ stepRunId: bare.id, status: "completed", endedAt: Date.now(), cacheKey: "B", newArtifacts: [], outputs: [] });
        expect((await hit("B"))?.outputs).toEqual([]);
        expect(await hit("nothing")).toBeUndefined();

        // A queued deletion of the run removes the hit.
        void store.deleteRun(run.id);
        expect(await hit("H")).toBeUndefined();
      });
    });

    describe("step tasks", () => {
      it("saves the task of a step run's attempt, replaces it for the next attempt, and reads it back", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train");
        expect(await store.getStepTask(step.id)).toBeUndefined();
        const task = { invocationId: "train", args: [{ value: 1 }, { artifact: { id: "a", uri: "/x#0+1" } }] };
        await store.saveStepTask(step.id, 1, task);
        expect(await store.getStepTask(step.id)).toEqual({ attempt: 1, task });
        await store.saveStepTask(step.id, 2, { ...task, attempt: 2 });
        expect(await store.getStepTask(step.id)).toEqual({ attempt: 2, task: { ...task, attempt: 2 } });
        await expect(store.saveStepTask(randomUUID(), 1, task)).rejects.toThrow();
      });
    });

    describe("logs", () => {
      it("appends lines and lists them oldest first, by run, step run and cursor", async () => {
        const run = await seedRun();
        const other = await seedRun();
        const load = await seedStepRun(run.id, "load");
        const train = await seedStepRun(run.id, "train", { position: 1 });
        await store.appendLogs([]);
        await store.appendLogs([
          { runId: run.id, stepRunId: null, stream: "log", message: "run started", at: 1 },
          { runId: run.id, stepRunId: load.id, stream: "stdout", message: "loading", at: 2 },
          { runId: other.id, stepRunId: null, stream: "log", message: "other run", at: 3 },
        ]);
        await store.appendLogs([
          { runId: run.id, stepRunId: train.id, stream: "stderr", message: "warning: lr high", at: 4 },
          { runId: run.id, stepRunId: load.id, stream: "stdout", message: "loaded 10 rows", at: 5 },
        ]);

        const lines = await store.listLogs(run.id);
        expect(lines.map(({ id: _id, ...line }) => line)).toEqual([
          { runId: run.id, stepRunId: null, stream: "log", message: "run started", at: 1 },
          { runId: run.id, stepRunId: load.id, stream: "stdout", message: "loading", at: 2 },
          { runId: run.id, stepRunId: train.id, stream: "stderr", message: "warning: lr high", at: 4 },
          { runId: run.id, stepRunId: load.id, stream: "stdout", message: "loaded 10 rows", at: 5 },
        ]);
        const ids = lines.map((line) => line.id!);
        for (const id of ids) expect(Number.isInteger(id)).toBe(true);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
        expect(new Set(ids).size).toBe(ids.length);

        const messages = (found: { message: string }[]) => found.map((line) => line.message);
        expect(messages(await store.listLogs(run.id, { afterId: ids[1] }))).toEqual([
          "warning: lr high",
          "loaded 10 rows",
        ]);
        expect(messages(await store.listLogs(run.id, { stepRunId: load.id }))).toEqual(["loading", "loaded 10 rows"]);
        expect(messages(await store.listLogs(run.id, { stepRunId: load.id, afterId: ids[1] }))).toEqual([
          "loaded 10 rows",
        ]);
        expect(await store.listLogs(run.id, { afterId: ids[3] })).toEqual([]);
        expect(messages(await store.listLogs(other.id))).toEqual(["other run"]);
      });

      it("rejects lines for an unknown run", async () => {
        await expect(
          store.appendLogs([{ runId: randomUUID(), stepRunId: null, stream: "log", message: "x", at: 1 }]),
        ).rejects.toThrow();
      });
    });

    describe("stacks", () => {
      const orchestrator = { type: "orchestrator" as const, name: "local", flavor: "local", config: {} };
      const artifactStore = {
        type: "artifact_store" as const,
        name: "local-files",
        flavor: "local",
        config: { root: "/tmp/weir" },
      };

      it("saves, gets and lists stacks, keeping component order", async () => {
        const saved = await store.saveStack({ name: "default", components: [orchestrator, artifactStore] });
        expect(saved).toEqual({
          name: "default",
          components: [
            { id: expect.any(String), ...orchestrator },
            { id: expect.any(String), ...artifactStore },
          ],
          createdAt: expect.any(Number),
        });
        expect(await store.getStack("default")).toEqual(saved);
        expect(await store.getStack("missing")).toBeUndefined();

        const remote = await store.saveStack({
          name: "cloud",
          components: [
            { type: "artifact_store", name: "s3", flavor: "s3", config: { bucket: "b" } },
            { type: "orchestrator", name: "k8s", flavor: "kubernetes", config: { namespace: "ml" } },
            { type: "container_registry", name: "ecr", flavor: "ecr", config: {} },
          ],
        });
        expect(await store.listStacks()).toEqual([remote, saved]);
      });

      it("replaces a stack saved again under the same name", async () => {
        await store.saveStack({ name: "default", components: [orchestrator, artifactStore] });
        const replacement = { ...artifactStore, name: "scratch", config: { root: "/scratch" } };
        const saved = await store.saveStack({ name: "default", components: [replacement] });

        expect(saved.components).toEqual([{ id: expect.any(String), ...replacement }]);
        expect(await store.getStack("default")).toEqual(saved);
        expect(await store.listStacks()).toEqual([saved]);
      });

      it("shares a component between stacks by type and name, updating it on save", async () => {
        const first = await store.saveStack({ name: "a", components: [orchestrator] });
        const second = await store.saveStack({
          name: "b",
          components: [{ ...orchestrator, flavor: "local-docker", config: { image: "node:20" } }],
        });
        expect(second.components[0].id).toBe(first.components[0].id);
        expect((await store.getStack("a"))?.components).toEqual([
          {
            id: first.components[0].id,
            type: "orchestrator",
            name: "local",
            flavor: "local-docker",
            config: { image: "node:20" },
          },
        ]);
      });

      it("sets and reads the active stack, refusing unknown stacks", async () => {
        expect(await store.getActiveStackName()).toBeUndefined();
        await store.saveStack({ name: "default", components: [orchestrator] });
        await store.saveStack({ name: "cloud", components: [orchestrator] });
        await store.setActiveStack("default");
        expect(await store.getActiveStackName()).toBe("default");
        await store.setActiveStack("cloud");
        expect(await store.getActiveStackName()).toBe("cloud");
        await expect(store.setActiveStack("missing")).rejects.toThrow();
        expect(await store.getActiveStackName()).toBe("cloud");
      });
    });

    describe("deleting runs (deleteRun) and artifact lineage (listArtifactVersionLinks)", () => {
      it("lists the step run outputs that produced a version and the inputs that consumed it", async () => {
        const run = await seedRun();
        const producer = await seedStepRun(run.id, "load");
        const rows = await addOutput(producer.id, "training::load::output");
        const consumer = await seedStepRun(run.id, "train", { position: 1 });
        await store.addStepInputs([{ stepRunId: consumer.id, artifactVersionId: rows.id, inputName: "arg0" }]);
        expect(await store.listArtifactVersionLinks(rows.id)).toEqual({
          outputs: [{ stepRunId: producer.id, artifactVersionId: rows.id, outputName: "output", mappingKey: null, position: 0 }],
          inputs: [{ stepRunId: consumer.id, artifactVersionId: rows.id, inputName: "arg0" }],
        });
        expect(await store.listArtifactVersionLinks(randomUUID())).toEqual({ outputs: [], inputs: [] });
      });

      it("deletes a run with everything of it, keeping the versions another run links to", async () => {
        const first = await seedRun();
        const load = await seedStepRun(first.id, "load");
        const shared = await addOutput(load.id, "training::load::output");
        const own = await addOutput(load.id, "training::load::extra", { outputName: "extra", position: 1 });
        const returned = await store.createArtifactVersion(newArtifact("training::return"));
        await store.updateRun(first.id, { status: "completed", output: { a: { $artifact: returned.id } } });
        await store.appendLogs([{ runId: first.id, stepRunId: load.id, stream: "log", message: "hi", at: Date.now() }]);
        await store.saveStepTask(load.id, 1, { task: true });
        // A later run reuses `shared` (as a cache hit would) and consumes it.
        const second = await seedRun();
        const cached = await seedStepRun(second.id, "load", { status: "cached" });
        await store.updateStepRun(cached.id, { originalStepRunId: load.id });
        await store.addStepOutput(null, { stepRunId: cached.id, artifactVersionId: shared.id, outputName: "output", mappingKey: null, position: 0 });

        const { artifactUris } = await store.deleteRun(first.id);
        expect(artifactUris.map((a) => a.uri).sort()).toEqual([own.uri, returned.uri].sort());
        expect(await store.getRun(first.id)).toBeUndefined();
        expect(await store.getStepRun(load.id)).toBeUndefined();
        expect(await store.getSnapshot(first.snapshotId)).toBeUndefined();
        expect(await store.listLogs(first.id)).toEqual([]);
        expect(await store.getStepTask(load.id)).toBeUndefined();
        expect(await store.getArtifactVersion(own.id)).toBeUndefined();
        expect(await store.getArtifactVersion(returned.id)).toBeUndefined();
        // The other run is untouched, and its cached step run no longer points at a deleted one.
        expect(await store.getArtifactVersion(shared.id)).toEqual(shared);
        expect((await store.getStepRun(cached.id))?.originalStepRunId).toBeNull();
        expect(await store.listStepOutputs(cached.id)).toHaveLength(1);

        // Deleting the second run too leaves nothing: `shared` is then linked by no run.
        expect((await store.deleteRun(second.id)).artifactUris.map((a) => a.uri)).toEqual([shared.uri]);
        expect(await store.listArtifactVersions({ artifactName: "training::load::output" })).toEqual([]);
        await expect(store.deleteRun(first.id)).rejects.toThrow();
      });
    });
    describe("write batching (the WriteBatcher contract)", () => {
      const seconds: MetadataStore[] = [];
      afterEach(async () => {
        for (const second of seconds.splice(0)) await second.close();
      });

      async function second(): Promise<MetadataStore> {
        const other = await openSecond(store);
        seconds.push(other);
        return other;
      }

      async function setupRun() {
        const run = await seedRun("batching", { isDynamic: true });
        const newStep = (invocationId: string, position: number, configuration?: unknown): NewStepRun => ({
          runId: run.id,
          invocationId,
          stepName: invocationId,
          position,
          upstream: [],
          parameters: {},
          configuration,
        });
        return { run, newStep };
      }

      it("commits the writes of one turn together, and resolves each once it is committed", async () => {
        const { run, newStep } = await setupRun();
        const other = await second();
        const names = async () => (await other.listStepRuns(run.id)).map((r) => r.invocationId);
        const writes = [store.createStepRun(newStep("a", 0)), store.createStepRun(newStep("b", 1))];
        // Another connection sees both or neither (a network store may commit while it asks), never one.
        expect([[], ["a", "b"]]).toContainEqual(await names());
        await writes[0];
        expect(await names()).toEqual(["a", "b"]);
        await writes[1];
      });

      it("fails only the write that fails, rolling back all of it, and keeps the rest of the batch", async () => {
        const { run, newStep } = await setupRun();
        const missingVersion = randomUUID();
        const modelId = randomUUID();
        const a = store.createStepRun(newStep("a", 0));
        const duplicate = store.createStepRun({ ...newStep("a", 1, { retries: 1 }), id: randomUUID() });
        const b = store.createStepRun(newStep("b", 2));
        const aRecord = await a;
        const completion = store.completeStepRun({
          stepRunId: aRecord.id,
          status: "completed",
          endedAt: 1,
          newArtifacts: [newArtifact("batching::a::output", { id: modelId })],
          outputs: [
            { artifactVersionId: modelId, outputName: "output", mappingKey: null, position: 0 },
            { artifactVersionId: missingVersion, outputName: "aux", mappingKey: null, position: 1 },
          ],
        });
        const update = store.updateStepRun(aRecord.id, { status: "running", attempt: 1 });
        const results = await Promise.allSettled([duplicate, b, completion, update]);
        expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "rejected", "fulfilled"]);
        expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/UNIQUE|unique|duplicate/);
        const other = await second();
        expect((await other.listStepRuns(run.id)).map((r) => r.invocationId)).toEqual(["a", "b"]);
        expect(await store.getStepRun(aRecord.id)).toMatchObject({ status: "running", attempt: 1, endedAt: null });
        expect(await store.getArtifactVersion(modelId)).toBeUndefined();
        expect(await store.listStepOutputs(aRecord.id)).toEqual([]);
        expect(await store.listStepConfigurations({ stepRunId: aRecord.id })).toEqual([]);
      });

      it("numbers versions right when a batch is run again after a failing multi-row write", async () => {
        const { newStep } = await setupRun();
        const step = await store.createStepRun(newStep("split", 0));
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        const link = (position: number) => ({ outputName: "output", mappingKey: `k${position}`, position });
        const results = await Promise.allSettled([
          store.addStepOutput(newArtifact("batching::split::output", { id: a }), { ...link(0), stepRunId: step.id, artifactVersionId: a }),
          // Same position: the link's primary key fails after the version was inserted.
          store.addStepOutput(newArtifact("batching::split::output", { id: b }), { ...link(0), stepRunId: step.id, artifactVersionId: b }),
          store.addStepOutput(newArtifact("batching::split::output", { id: c }), { ...link(1), stepRunId: step.id, artifactVersionId: c }),
        ]);
        expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect(results.map((r) => (r.status === "fulfilled" ? r.value.version : null))).toEqual([1, null, 2]);
        expect(await store.getArtifactVersion(b)).toBeUndefined();
        expect((await store.listStepOutputs(step.id)).map((o) => o.artifactVersionId)).toEqual([a, c]);
      });

      it("lets reads see earlier writes that were not awaited", async () => {
        const { run, newStep } = await setupRun();
        const created = store.createStepRun(newStep("a", 0));
        const found = await store.findStepRun(run.id, "a");
        expect(found).toEqual(await created);
        void store.updateStepRun(found!.id, { status: "running", attempt: 1 });
        expect(await store.getStepRun(found!.id)).toMatchObject({ status: "running", attempt: 1 });
        void store.appendLogs([{ runId: run.id, stepRunId: found!.id, stream: "log", message: "hi", at: 1 }]);
        expect((await store.listLogs(run.id)).map((l) => l.message)).toEqual(["hi"]);
        // The reads a cache hit makes (a store may let them wait for the turn's commit instead of forcing one).
        const version = randomUUID();
        void store.addStepOutput(newArtifact("unawaited::output", { id: version }), {
          stepRunId: found!.id,
          artifactVersionId: version,
          outputName: "output",
          mappingKey: null,
          position: 0,
        });
        expect((await store.listStepOutputs(found!.id)).map((o) => o.artifactVersionId)).toEqual([version]);
        void store.completeStepRun({ stepRunId: found!.id, status: "completed", endedAt: 2, cacheKey: null, newArtifacts: [], outputs: [] });
        expect((await store.getArtifactVersion(version))?.artifactName).toBe("unawaited::output");
        expect((await store.getStepRun(found!.id))?.status).toBe("completed");
      });

      it("applies writes in call order", async () => {
        const { newStep } = await setupRun();
        const step = await store.createStepRun(newStep("a", 0));
        const other = await store.createStepRun(newStep("b", 1));
        const patches = [
          store.updateStepRun(step.id, { status: "running", attempt: 1 }),
          store.updateStepRun(other.id, { status: "running", attempt: 1 }),
          store.updateStepRun(step.id, { status: "failed", attempt: 1, error: "first" }),
          store.updateStepRun(other.id, { metadata: { n: 1 } }),
          store.updateStepRun(step.id, { status: "running", attempt: 2, error: null }),
          store.updateStepRun(other.id, { metadata: { n: 2 } }),
        ];
        await Promise.all(patches);
        expect(await store.getStepRun(step.id)).toMatchObject({ status: "running", attempt: 2, error: null });
        expect(await store.getStepRun(other.id)).toMatchObject({ status: "running", metadata: { n: 2 } });
      });

      it("takes the values of a write when it is called, not when it is committed", async () => {
        const { newStep } = await setupRun();
        const step = await store.createStepRun(newStep("a", 0));
        const metadata: Record<string, unknown> = { rows: 1 };
        const write = store.updateStepRun(step.id, { metadata });
        metadata.rows = 2;
        await write;
        expect((await store.getStepRun(step.id))?.metadata).toEqual({ rows: 1 });
      });

      it("commits thousands of queued writes (several transactions) in order", async () => {
        const { run, newStep } = await setupRun();
        const count = 10_000;
        const records = await Promise.all(Array.from({ length: count }, (_, i) => store.createStepRun(newStep(`s_${i}`, i))));
        expect(new Set(records.map((r) => r.id)).size).toBe(count);
        const listed = await store.listStepRuns(run.id);
        expect(listed.map((r) => r.position)).toEqual(records.map((r) => r.position));
      });

      it("runs a step's writes issued without waiting (create, start, complete, inputs, logs) as the engine does", async () => {
        const { run, newStep } = await setupRun();
        const steps = Array.from({ length: 50 }, (_, i) => ({ ...newStep(`s_${i}`, i), id: randomUUID() }));
        const versions = steps.map(() => randomUUID());
        const writes: Promise<unknown>[] = [];
        steps.forEach((step, i) => {
          writes.push(store.createStepRun(step));
          writes.push(store.updateStepRun(step.id, { status: "running", attempt: 1, startedAt: i }));
          if (i > 0) {
            writes.push(store.addStepInputs([{ stepRunId: step.id, artifactVersionId: versions[i - 1], inputName: "arg0" }]));
          }
          writes.push(
            store.completeStepRun({
              stepRunId: step.id,
              attempt: 1,
              status: "completed",
              endedAt: i + 1,
              newArtifacts: [newArtifact("batching::s::output", { id: versions[i] })],
              outputs: [{ artifactVersionId: versions[i], outputName: "output", mappingKey: null, position: 0 }],
            }),
          );
          writes.push(store.appendLogs([{ runId: run.id, stepRunId: step.id, stream: "log", message: `done ${i}`, at: i }]));
        });
        writes.push(store.updateRun(run.id, { status: "completed", endedAt: 99 }));
        await Promise.all(writes);
        const listed = await store.listStepRuns(run.id);
        expect(listed.map((r) => [r.status, r.attempt])).toEqual(steps.map(() => ["completed", 1]));
        const numbers = await Promise.all(versions.map(async (id) => (await store.getArtifactVersion(id))!.version));
        expect(numbers).toEqual(steps.map((_, i) => i + 1));
        expect(await store.listStepInputs(steps[7].id)).toEqual([
          { stepRunId: steps[7].id, artifactVersionId: versions[6], inputName: "arg0" },
        ]);
        expect((await store.listLogs(run.id)).map((l) => l.message)).toEqual(steps.map((_, i) => `done ${i}`));
      });

      it("commits pending writes on close, and rejects writes after it", async () => {
        const { run, newStep } = await setupRun();
        const other = await second();
        const pending = store.createStepRun(newStep("a", 0));
        await store.close();
        await expect(pending).resolves.toMatchObject({ invocationId: "a" });
        await expect(store.createStepRun(newStep("b", 1))).rejects.toThrow();
        expect((await other.listStepRuns(run.id)).map((r) => r.invocationId)).toEqual(["a"]);
        store = await openSecond(other); // afterEach closes `store`
      });
    });

    describe("change sequence (listStepRunChanges)", () => {
      it("lists the step runs changed after a cursor, in change order, and moves the cursor", async () => {
        const run = await seedRun();
        const a = await seedStepRun(run.id, "a");
        const b = await seedStepRun(run.id, "b", { position: 1 });
        const first = await store.listStepRunChanges(run.id, 0);
        expect(first.stepRuns.map((r) => r.id)).toEqual([a.id, b.id]);
        expect(first.seq).toBe(b.seq);
        expect(await store.listStepRunChanges(run.id, first.seq)).toEqual({ stepRuns: [], seq: first.seq });

        await store.updateStepRun(b.id, { status: "running", attempt: 1 });
        await store.updateStepRun(a.id, { status: "running", attempt: 1 });
        const second = await store.listStepRunChanges(run.id, first.seq);
        expect(second.stepRuns.map((r) => [r.id, r.status])).toEqual([
          [b.id, "running"],
          [a.id, "running"],
        ]);
        expect(second.seq).toBeGreaterThan(first.seq);
        const limited = await store.listStepRunChanges(run.id, first.seq, 1);
        expect(limited.stepRuns.map((r) => r.id)).toEqual([b.id]);
        expect((await store.listStepRunChanges(run.id, limited.seq)).stepRuns.map((r) => r.id)).toEqual([a.id]);
        // Completion, reset and other runs' changes move (or not) the cursor as expected.
        await store.completeStepRun({ stepRunId: a.id, status: "completed", endedAt: 1, newArtifacts: [], outputs: [] });
        await store.resetStepRun(b.id);
        const other = await seedRun("other");
        await seedStepRun(other.id, "x");
        const third = await store.listStepRunChanges(run.id, second.seq);
        expect(third.stepRuns.map((r) => [r.id, r.status])).toEqual([
          [a.id, "completed"],
          [b.id, "pending"],
        ]);
      });

      it("bumps a run's seq on every change", async () => {
        const run = await seedRun();
        await store.updateRun(run.id, { status: "running" });
        const updated = (await store.getRun(run.id))!;
        expect(updated.seq).toBeGreaterThan(run.seq);
        await store.claimRun(run.id, "me", 0);
        expect((await store.getRun(run.id))!.seq).toBeGreaterThan(updated.seq);
      });
    });

    describe("run summaries and lookups", () => {
      it("lists runs with their step counts by status in one call, filtered and paged", async () => {
        const a = await seedRun("training", { name: "nightly" });
        await tick();
        const b = await seedRun("scoring");
        await tick();
        const c = await seedRun("training");
        await seedStepRun(a.id, "x", { status: "running" });
        await seedStepRun(a.id, "y", { position: 1 });
        await seedStepRun(a.id, "z", { position: 2 });
        const done = await seedStepRun(c.id, "x");
        await store.completeStepRun({ stepRunId: done.id, status: "completed", endedAt: 1, newArtifacts: [], outputs: [] });

        const all = await store.listRunSummaries();
        expect(all.map((r) => r.id)).toEqual([c.id, b.id, a.id]);
        expect(all.map((r) => r.stepCounts)).toEqual([{ completed: 1 }, {}, { running: 1, pending: 2 }]);
        expect(all[2]).toEqual({ ...(await store.getRun(a.id)), stepCounts: { running: 1, pending: 2 } });
        expect((await store.listRunSummaries({ pipelineName: "training" })).map((r) => r.id)).toEqual([c.id, a.id]);
        expect((await store.listRunSummaries({ limit: 1, offset: 1 })).map((r) => r.id)).toEqual([b.id]);
        expect((await store.listRunSummaries({ name: "nightly" })).map((r) => r.id)).toEqual([a.id]);
        expect((await store.listRunSummaries({ idPrefix: b.id.slice(0, 30) })).map((r) => r.id)).toEqual([b.id]);
        expect((await store.listRuns({ limit: 2, offset: 1 })).map((r) => r.id)).toEqual([b.id, a.id]);
        expect((await store.listRuns({ idPrefix: c.id.slice(0, 30) })).map((r) => r.id)).toEqual([c.id]);
      });

      it("finds runs by name, id prefix or id suffix", async () => {
        const a = await seedRun("training", { name: "same" });
        await tick();
        const b = await seedRun("training", { name: "same" });
        const c = await seedRun("training", { name: "other" });
        const ids = (runs: RunRecord[]) => runs.map((r) => r.id);
        expect(ids(await store.findRuns({ name: "same" }))).toEqual([b.id, a.id]);
        expect(ids(await store.findRuns({ idPrefix: c.id.slice(0, 32) }))).toEqual([c.id]);
        expect(ids(await store.findRuns({ idSuffix: c.id.slice(-12) }))).toEqual([c.id]);
        expect(ids(await store.findRuns({ name: "same", idSuffix: a.id.slice(-12) }))).toEqual([a.id]);
        expect(await store.findRuns({ name: "missing" })).toEqual([]);
        // LIKE wildcards in the query are plain characters.
        expect(await store.findRuns({ idPrefix: "%" })).toEqual([]);
        expect(await store.findRuns({ idSuffix: "_" })).toEqual([]);
        expect(await store.findRuns({ name: "sam%" })).toEqual([]);
      });
    });

    describe("leases (claimRun)", () => {
      it("records the owner given with a new run", async () => {
        const run = await seedRun("training", { owner: "host:1", heartbeatAt: 1_000 });
        expect(run).toMatchObject({ owner: "host:1", heartbeatAt: 1_000 });
        expect(await store.getRun(run.id)).toEqual(run);
      });

      it("lets one owner claim a run, refuses a second while the lease is fresh, and hands over a stale one", async () => {
        const run = await seedRun();
        const before = Date.now();
        expect(await store.claimRun(run.id, "a", before - 10_000)).toBe(true);
        const claimed = (await store.getRun(run.id))!;
        expect(claimed.owner).toBe("a");
        expect(claimed.heartbeatAt).toBeGreaterThanOrEqual(before);
        expect(await store.claimRun(run.id, "b", before - 10_000)).toBe(false);
        expect((await store.getRun(run.id))!.owner).toBe("a");
        // The same owner renews its lease.
        expect(await store.claimRun(run.id, "a", before - 10_000)).toBe(true);
        // A heartbeat older than the threshold is stale: the next claimant takes over.
        expect(await store.claimRun(run.id, "b", Date.now() + 1)).toBe(true);
        expect((await store.getRun(run.id))!.owner).toBe("b");
        await expect(store.claimRun(randomUUID(), "a", 0)).rejects.toThrow();
      });

      it("gives a run to exactly one of several claimants at once", async () => {
        const run = await seedRun();
        const other = await openSecond(store);
        try {
          const results = await Promise.all([
            store.claimRun(run.id, "a", 0),
            other.claimRun(run.id, "b", 0),
            store.claimRun(run.id, "c", 0),
            other.claimRun(run.id, "d", 0),
          ]);
          expect(results.filter(Boolean)).toHaveLength(1);
          const winner = ["a", "b", "c", "d"][results.indexOf(true)];
          expect((await store.getRun(run.id))!.owner).toBe(winner);
        } finally {
          await other.close();
        }
      });

      it("records cancel requests", async () => {
        const run = await seedRun();
        await store.updateRun(run.id, { cancelRequestedAt: 123 });
        expect((await store.getRun(run.id))!.cancelRequestedAt).toBe(123);
      });
    });

    describe("fenced completion (completeStepRun with attempt)", () => {
      it("applies the current attempt's result and ignores a stale or late one", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train", { status: "running" });
        await store.updateStepRun(step.id, { attempt: 2 });
        const stale = randomUUID();
        const staleResult = await store.completeStepRun({
          stepRunId: step.id,
          attempt: 1,
          status: "completed",
          endedAt: 1,
          newArtifacts: [newArtifact("training::train::output", { id: stale })],
          outputs: [{ artifactVersionId: stale, outputName: "output", mappingKey: null, position: 0 }],
        });
        expect(staleResult).toBe(false);
        expect(await store.getStepRun(step.id)).toMatchObject({ status: "running", attempt: 2, endedAt: null });
        expect(await store.getArtifactVersion(stale)).toBeUndefined();
        expect(await store.listStepOutputs(step.id)).toEqual([]);

        const current = randomUUID();
        const applied = await store.completeStepRun({
          stepRunId: step.id,
          attempt: 2,
          status: "completed",
          endedAt: 2,
          newArtifacts: [newArtifact("training::train::output", { id: current })],
          outputs: [{ artifactVersionId: current, outputName: "output", mappingKey: null, position: 0 }],
        });
        expect(applied).toBe(true);
        expect(await store.getArtifactVersion(current)).toMatchObject({ version: 1 });
        // A second result for the same attempt comes after the step run is final: ignored.
        const again = await store.completeStepRun({
          stepRunId: step.id,
          attempt: 2,
          status: "completed",
          endedAt: 3,
          newArtifacts: [],
          outputs: [],
        });
        expect(again).toBe(false);
        expect(await store.getStepRun(step.id)).toMatchObject({ status: "completed", endedAt: 2 });
      });

      it("applies a completion that carries its attempt's start to a pending step run in one write", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train");
        const id = randomUUID();
        const applied = await store.completeStepRun({
          stepRunId: step.id,
          attempt: 1,
          started: { startedAt: 5, upstream: ["load"] },
          status: "completed",
          endedAt: 7,
          newArtifacts: [newArtifact("training::train::output", { id })],
          outputs: [{ artifactVersionId: id, outputName: "output", mappingKey: null, position: 0 }],
        });
        expect(applied).toBe(true);
        expect(await store.getStepRun(step.id)).toMatchObject({ status: "completed", attempt: 1, startedAt: 5, endedAt: 7, upstream: ["load"], error: null });
        expect((await store.listStepOutputs(step.id)).map((o) => o.artifactVersionId)).toEqual([id]);
        // A later attempt recorded meanwhile still fences an earlier one's folded result out.
        const other = await seedStepRun(run.id, "evaluate");
        await store.updateStepRun(other.id, { status: "running", attempt: 3 });
        const stale = await store.completeStepRun({ stepRunId: other.id, attempt: 2, started: { startedAt: 1 }, status: "completed", endedAt: 2, newArtifacts: [], outputs: [] });
        expect(stale).toBe(false);
        expect(await store.getStepRun(other.id)).toMatchObject({ status: "running", attempt: 3 });
      });

      it("ignores a result for a step run already failed, and rejects an unknown step run", async () => {
        const run = await seedRun();
        const step = await seedStepRun(run.id, "train", { status: "running" });
        await store.updateStepRun(step.id, { status: "failed", error: "timed out" });
        const late = { stepRunId: step.id, attempt: 1, status: "completed" as const, endedAt: 9, newArtifacts: [], outputs: [] };
        expect(await store.completeStepRun(late)).toBe(false);
        expect(await store.getStepRun(step.id)).toMatchObject({ status: "failed", error: "timed out" });
        await expect(store.completeStepRun({ ...late, stepRunId: randomUUID() })).rejects.toThrow();
        // Without an attempt, a completion is applied as before and resolves true.
        expect(await store.completeStepRun({ ...late, attempt: undefined })).toBe(true);
      });
    });

    describe("components and named artifact versions", () => {
      it("gets a component by id and lists every component", async () => {
        const saved = await store.saveStack({
          name: "default",
          components: [
            { type: "orchestrator", name: "local", flavor: "local", config: {} },
            { type: "artifact_store", name: "files", flavor: "local", config: { path: "/tmp/a" } },
          ],
        });
        const [orchestrator, files] = saved.components;
        expect(await store.getComponent(files.id)).toEqual(files);
        expect(await store.getComponent(randomUUID())).toBeUndefined();
        expect(await store.listComponents()).toEqual([files, orchestrator]);
      });

      it("records which artifact store holds a version", async () => {
        const saved = await store.saveStack({
          name: "default",
          components: [{ type: "artifact_store", name: "files", flavor: "local", config: {} }],
        });
        const storeId = saved.components[0].id;
        const version = await store.createArtifactVersion(newArtifact("training::output", { artifactStoreId: storeId }));
        expect(version.artifactStoreId).toBe(storeId);
        expect(await store.getArtifactVersion(version.id)).toEqual(version);
      });

      it("gets a version by artifact name, the newest when no version is given", async () => {
        const first = await store.createArtifactVersion(newArtifact("training::model"));
        const second = await store.createArtifactVersion(newArtifact("training::model"));
        expect(await store.getArtifactVersionByName("training::model")).toEqual(second);
        expect(await store.getArtifactVersionByName("training::model", 1)).toEqual(first);
        expect(await store.getArtifactVersionByName("training::model", 3)).toBeUndefined();
        expect(await store.getArtifactVersionByName("missing")).toBeUndefined();
      });
    });

    describe("deleting runs (deleteRun)", () => {
      it("deletes a run with everything it owns, keeping versions another run links", async () => {
        const keep = await seedRun();
        const gone = await seedRun();
        const producer = await seedStepRun(gone.id, "train", { status: "running", configuration: { retries: 1 } });
        const own = randomUUID();
        const ownUri = `file:///artifacts/${own}`;
        const shared = randomUUID();
        await store.completeStepRun({
          stepRunId: producer.id,
          status: "completed",
          endedAt: 1,
          newArtifacts: [
            newArtifact("training::train::model", { id: own, uri: ownUri }),
            newArtifact("training::train::metrics", { id: shared }),
          ],
          outputs: [
            { artifactVersionId: own, outputName: "model", mappingKey: null, position: 0 },
            { artifactVersionId: shared, outputName: "metrics", mappingKey: null, position: 1 },
          ],
        });
        await store.saveStepTask(producer.id, 1, { x: 1 });
        await store.appendLogs([{ runId: gone.id, stepRunId: producer.id, stream: "log", message: "hi", at: 1 }]);
        const returned = await store.createArtifactVersion(newArtifact("training::output"));
        await store.updateRun(gone.id, { output: { value: { $artifact: returned.id } } });
        // A cache hit in another run links one of the versions: it must stay.
        const hit = await seedStepRun(keep.id, "train");
        await store.completeStepRun({
          stepRunId: hit.id,
          status: "cached",
          endedAt: 2,
          originalStepRunId: producer.id,
          newArtifacts: [],
          outputs: [{ artifactVersionId: shared, outputName: "metrics", mappingKey: null, position: 0 }],
        });

        const { artifactUris } = await store.deleteRun(gone.id);
        expect(await store.getArtifactVersion(own)).toBeUndefined();
        expect(await store.getArtifactVersion(returned.id)).toBeUndefined();
        expect(artifactUris).toHaveLength(2);
        expect(artifactUris).toContainEqual({ uri: ownUri, artifactStoreId: null });
        expect(artifactUris).toContainEqual({ uri: returned.uri, artifactStoreId: null });
        expect(await store.getRun(gone.id)).toBeUndefined();
        expect(await store.getStepRun(producer.id)).toBeUndefined();
        expect(await store.listStepConfigurations({ stepRunId: producer.id })).toEqual([]);
        expect(await store.getStepTask(producer.id)).toBeUndefined();
        expect(await store.listLogs(gone.id)).toEqual([]);
        expect(await store.getSnapshot(gone.snapshotId)).toBeUndefined();
        expect(await store.getArtifactVersion(shared)).toBeDefined();
        expect(await store.getStepRun(hit.id)).toMatchObject({ status: "cached", originalStepRunId: null });
        expect(await store.getRun(keep.id)).toBeDefined();
        await expect(store.deleteRun(gone.id)).rejects.toThrow();
      });
    });

  });
}
