import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/stores/metadata/errors.js";
import { connectionOptions, openPostgresStore, PostgresMetadataStore } from "../../src/stores/metadata/postgres/postgres-store.js";
import { arrayParam } from "../../src/stores/metadata/postgres/writes.js";
import { metadataStoreConformance } from "./metadata-store.conformance.js";
import { scheduleStoreConformance } from "./schedule-store.conformance.js";
import { checkConcurrentWriters } from "./metadata-concurrency.js";
import { migrationFromSchema4 } from "./migration-5.conformance.js";
import { createTestDatabase, emptyDatabase, PG_SERVER } from "./postgres-database.js";

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

scheduleStoreConformance("postgres", async () => {
  await emptyDatabase(database.url);
  const store = new PostgresMetadataStore(database.url);
  await store.migrate();
  return store;
});

{
  let own: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let client: pg.Client | undefined;
  afterAll(async () => {
    await client?.end().catch(() => undefined);
    await own?.drop();
  });
  migrationFromSchema4("postgres", {
    empty: async () => {
      own = await createTestDatabase();
      const raw = (client = new pg.Client(connectionOptions(own.url)));
      await raw.connect();
      const exec = async (sql: string, params: unknown[] = []) => {
        let n = 0;
        await raw.query(sql.replace(/\?/g, () => `$${++n}`), params);
      };
      return { dialect: "postgres", exec };
    },
    open: async () => {
      await client?.end();
      client = undefined;
      return openPostgresStore(own!.url);
    },
  });
}

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

  it("answers a queue worker's many concurrent getStepTask calls with a few queries, each caller its own task", async () => {
    await emptyDatabase(database.url);
    const store = await openPostgresStore(database.url);
    const original = pg.Client.prototype.query;
    let queries = 0;
    try {
      const snapshot = await store.createSnapshot({ pipelineName: "p", isDynamic: true, parameters: {}, source: { module: "m" }, spec: null });
      const run = await store.createRun({ name: "r", pipelineName: "p", snapshotId: snapshot.id, stackName: "s", isDynamic: true, enableCache: false });
      const ids: string[] = [];
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 2_000; i++) {
        const id = randomUUID();
        ids.push(id);
        writes.push(store.createStepRun({ id, runId: run.id, invocationId: `s_${i}`, stepName: "s", position: i, upstream: [], parameters: {} }));
        writes.push(store.saveStepTask(id, 1, { invocationId: `s_${i}`, args: [{ value: i }] }));
        if (i % 2 === 0) writes.push(store.saveStepTask(id, 2, { invocationId: `s_${i}`, args: [{ value: -i - 1 }] }));
      }
      await Promise.all(writes);
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        queries++;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
      const unknown = randomUUID();
      // Reads of one turn, one id asked twice, one id without a task.
      const reads = [...ids, ids[7], unknown].map((id) => store.getStepTask(id));
      const tasks = await Promise.all(reads);
      expect(queries).toBeGreaterThan(0);
      expect(queries).toBeLessThanOrEqual(4);
      for (const [i, read] of tasks.slice(0, ids.length).entries()) {
        expect(read).toEqual(i % 2 === 0 ? { attempt: 2, task: { invocationId: `s_${i}`, args: [{ value: -i - 1 }] } } : { attempt: 1, task: { invocationId: `s_${i}`, args: [{ value: i }] } });
      }
      expect(tasks[ids.length]).toEqual(tasks[7]);
      expect(tasks[ids.length]).not.toBe(tasks[7]);
      expect(tasks[ids.length + 1]).toBeUndefined();
      // Reads that come while one is in flight are answered too, and see the writes made before them.
      const first = store.getStepTask(ids[1]);
      await new Promise((resolve) => setImmediate(resolve));
      const rewrite = store.saveStepTask(ids[1], 3, { invocationId: "s_1", args: [] });
      const second = store.getStepTask(ids[1]);
      expect(await first).toEqual({ attempt: 1, task: { invocationId: "s_1", args: [{ value: 1 }] } });
      await rewrite;
      expect(await second).toEqual({ attempt: 3, task: { invocationId: "s_1", args: [] } });
    } finally {
      pg.Client.prototype.query = original;
      await store.close();
    }
  });
});

describe("PostgresMetadataStore array parameters", () => {
  it("sends every text and number as it was, whichever way the array literal is made", async () => {
    const texts = [
      "plain",
      "",
      "NULL",
      "null",
      'a "quoted" word',
      "{braces},commas",
      JSON.stringify({ task: { args: [{ value: "x" }], path: "/dir", quote: '"' } }),
      "é and 😀",
      // JSON escapes that an array literal reads differently: node-postgres's path.
      "back\\slash \\\" both",
      JSON.stringify({ task: { args: [{ value: "x\ny" }], path: "C:\\dir" } }),
      "line\nbreak\ttab",
      "a lone \ud800 surrogate",
      null,
    ];
    const numbers = [0, -1, 1764768000000, 2 ** 53 - 1, null];
    // The JSON path for columns it can take; node-postgres's own for the others.
    expect(typeof arrayParam(texts.slice(0, 8))).toBe("string");
    expect(typeof arrayParam(numbers)).toBe("string");
    expect(Array.isArray(arrayParam(texts))).toBe(true);
    for (const text of texts.slice(8, 12)) expect(Array.isArray(arrayParam(["plain", text]))).toBe(true);
    const client = new pg.Client(connectionOptions(database.url));
    await client.connect();
    try {
      for (const values of [texts.slice(0, 8), [...texts.slice(0, 8), null], texts, texts.slice(8)]) {
        const { rows } = await client.query<{ v: string | null }>(`SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, ord) ORDER BY ord`, [arrayParam(values)]);
        expect(rows.map((row) => row.v)).toEqual(values.map((v) => (v === null ? null : v.replace("\ud800", "\ufffd"))));
      }
      const { rows } = await client.query<{ v: string | null }>(`SELECT v::text FROM unnest($1::bigint[]) WITH ORDINALITY AS t(v, ord) ORDER BY ord`, [arrayParam(numbers)]);
      expect(rows.map((row) => row.v)).toEqual(numbers.map((n) => (n === null ? null : String(n))));
    } finally {
      await client.end();
    }
  });
});

describe("PostgresMetadataStore when the connection drops", () => {
  it("sends a batch again when its connection drops before COMMIT, fails it naming the store otherwise, and writes nothing half", async () => {
    const own = await createTestDatabase();
    const store = await openPostgresStore(own.url);
    const killer = new pg.Client(connectionOptions(`${PG_SERVER}/postgres`));
    await killer.connect();
    try {
      const snapshot = await store.createSnapshot({ pipelineName: "p", isDynamic: true, parameters: {}, source: { module: "m" }, spec: null });
      const run = await store.createRun({ name: "r", pipelineName: "p", snapshotId: snapshot.id, stackName: "s", isDynamic: true, enableCache: false });
      let killing = true;
      let killed = 0;
      const kills = (async () => {
        while (killing) {
          const { rows } = await killer.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
            [own.name],
          );
          killed += rows.length;
          await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 150));
        }
      })();
      const attempts: { id: string; version: string; result: Promise<unknown> }[] = [];
      const deadline = Date.now() + 4_000;
      for (let i = 0; Date.now() < deadline; i++) {
        const id = randomUUID();
        const version = randomUUID();
        const created = store.createStepRun({ id, runId: run.id, invocationId: `s_${i}`, stepName: "s", position: i, upstream: [], parameters: {} });
        const completed = store.completeStepRun({
          stepRunId: id,
          status: "completed",
          endedAt: i,
          newArtifacts: [{ id: version, artifactName: "p::s::output", uri: `u${i}`, dataType: "n", materializer: "json", contentHash: "h", size: 1 }],
          outputs: [{ artifactVersionId: version, outputName: "output", mappingKey: null, position: 0 }],
        });
        const result = Promise.all([created, completed]);
        result.catch(() => undefined); // looked at below, after the kills
        attempts.push({ id, version, result });
        await Promise.allSettled([created, completed]);
      }
      killing = false;
      await kills;
      const outcomes = await Promise.allSettled(attempts.map((a) => a.result));
      const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
      // Connections were really dropped under the writes, and most batches got through anyway.
      expect(killed).toBeGreaterThan(5);
      expect(failures.length).toBeLessThan(outcomes.length / 2);
      for (const failure of failures) {
        expect(failure.reason).toBeInstanceOf(StoreUnavailableError);
        expect(String(failure.reason.message)).toMatch(new RegExp(`Lost the connection to the metadata store .*${own.name}.*resume`));
      }
      // Each step's completion is all there (version, link, status) or not at all.
      for (const [i, attempt] of attempts.entries()) {
        const step = await store.getStepRun(attempt.id);
        const version = await store.getArtifactVersion(attempt.version);
        const links = await store.listStepOutputs(attempt.id);
        const complete = step?.status === "completed" && version !== undefined && links.length === 1;
        const absent = version === undefined && links.length === 0 && step?.status !== "completed";
        expect(complete || absent).toBe(true);
        if (outcomes[i].status === "fulfilled") expect(complete).toBe(true);
      }
      // The pool replaced the dropped connections: the store works again.
      await store.updateRun(run.id, { status: "completed" });
      expect((await store.getRun(run.id))!.status).toBe("completed");
    } finally {
      await killer.end();
      await store.close();
      await own.drop();
    }
  }, 60_000);
});

describe("PostgresMetadataStore when the server cannot be reached", () => {
  it("fails writes and reads with an error naming the store and what to do", async () => {
    // Nothing listens on port 1: every connection is refused, after the reconnect attempts.
    const store = new PostgresMetadataStore("postgresql://me:secret@127.0.0.1:1/weir");
    try {
      const write = store.appendLogs([{ runId: "r", stepRunId: null, stream: "log", message: "m", at: 1 }]);
      await expect(write).rejects.toThrow(StoreUnavailableError);
      await expect(write).rejects.toThrow(
        /Lost the connection to the metadata store postgresql:\/\/me:\*\*\*@127\.0\.0\.1:1\/weir .*Check that PostgreSQL is running/,
      );
      await expect(store.getRun("r")).rejects.toThrow(StoreUnavailableError);
    } finally {
      await store.close();
    }
  });
});
