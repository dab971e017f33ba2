import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, PostgresMetadataStore } from "../../src/stores/metadata/postgres/postgres-store.js";
import { metadataStoreConformance } from "./metadata-store.conformance.js";
import { checkConcurrentWriters } from "./metadata-concurrency.js";
import { createTestDatabase, emptyDatabase } from "./postgres-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

// One database for the file, emptied before each test: creating a database per test costs ~0.3 s.
metadataStoreConformance("postgres", {
  open: async () => {
    await emptyDatabase(database.url);
    return new PostgresMetadataStore(database.url);
  },
  openSecond: async () => openPostgresStore(database.url),
});

describe("PostgresMetadataStore with several processes", () => {
  it("keeps versions, leases and writes right with four processes writing one database at once", async () => {
    const own = await createTestDatabase();
    try {
      await checkConcurrentWriters(own.url);
    } finally {
      await own.drop();
    }
  }, 180_000);
});

describe("PostgresMetadataStore batching", () => {
  it("sends an engine's burst of writes as a few multi-row statements, not one round trip per row", async () => {
    await emptyDatabase(database.url);
    const store = await openPostgresStore(database.url);
    const original = pg.Client.prototype.query;
    let queries = 0;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      queries++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const snapshot = await store.createSnapshot({ pipelineName: "p", isDynamic: true, parameters: {}, source: { module: "m" }, spec: null });
      const run = await store.createRun({ name: "r", pipelineName: "p", snapshotId: snapshot.id, stackName: "s", isDynamic: true, enableCache: false });
      queries = 0;
      const steps = 1_000;
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < steps; i++) {
        const id = randomUUID();
        const version = randomUUID();
        writes.push(store.createStepRun({ id, runId: run.id, invocationId: `s_${i}`, stepName: "s", position: i, upstream: [], parameters: {} }));
        writes.push(store.updateStepRun(id, { status: "running", attempt: 1, startedAt: i }));
        writes.push(
          store.completeStepRun({
            stepRunId: id,
            attempt: 1,
            status: "completed",
            endedAt: i,
            newArtifacts: [{ id: version, artifactName: `p::s_${i}::output`, uri: `u${i}`, dataType: "n", materializer: "json", contentHash: "h", size: 1 }],
            outputs: [{ artifactVersionId: version, outputName: "output", mappingKey: null, position: 0 }],
          }),
        );
        writes.push(store.appendLogs([{ runId: run.id, stepRunId: id, stream: "log", message: "m", at: i }]));
      }
      await Promise.all(writes);
      expect(queries).toBeGreaterThan(0);
      expect(queries).toBeLessThan(40);
      const listed = await store.listStepRuns(run.id);
      expect(listed.filter((s) => s.status === "completed")).toHaveLength(steps);
    } finally {
      pg.Client.prototype.query = original;
      await store.close();
    }
  });
});
