/**
 * A run on the PostgreSQL store whose connections are terminated while it runs
 * (pg_terminate_backend, as a failover or a DBA would): the store reconnects and the run
 * completes, each step once.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipeline, step } from "weir";
import { useTempHome } from "../helpers.js";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { connectionOptions } from "../../src/stores/metadata/postgres/postgres-store.js";
import { createTestDatabase, PG_SERVER } from "./postgres-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const saved = process.env.WEIR_STORE_URL;
beforeAll(async () => {
  useTempHome("weir-pg-fault-");
  database = await createTestDatabase();
  process.env.WEIR_STORE_URL = database.url;
});
afterAll(async () => {
  await closeMetadataStores();
  if (saved === undefined) delete process.env.WEIR_STORE_URL;
  else process.env.WEIR_STORE_URL = saved;
  await database?.drop();
});

/** Terminates every connection to the test database but the caller's; returns how many. */
async function terminateBackends(): Promise<number> {
  const admin = new pg.Client(connectionOptions(`${PG_SERVER}/postgres`));
  await admin.connect();
  try {
    const { rows } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database.name],
    );
    return rows.length;
  } finally {
    await admin.end();
  }
}

/** A dynamic pipeline whose middle step terminates the store's connections (in-process steps). */
function dynamicPipeline(terminate: () => Promise<number>) {
  const counts = { double: 0, terminate: 0 };
  let terminated = 0;
  const double = step(function double(x: number) {
    counts.double += 1;
    return x * 2;
  });
  const cut = step(async function terminate_connections(): Promise<number> {
    counts.terminate += 1;
    // Let the batches in flight commit first: a connection lost during COMMIT fails the run
    // instead (the store cannot know whether it committed); the store-level test covers that.
    await new Promise((resolve) => setTimeout(resolve, 300));
    terminated = await terminate();
    return terminated;
  });
  const p = pipeline({ name: "pg_fault", dynamic: true }, async () => {
    const first = [1, 2, 3, 4].map((x) => double(x));
    await cut();
    const second = [5, 6, 7, 8].map((x) => double(x));
    return Promise.all([...first, ...second]);
  });
  return { p, executions: () => ({ ...counts }), terminated: () => terminated };
}

describe("a run on PostgreSQL when the server drops its connections", () => {
  it("completes, with every step run once, after its connections are terminated mid-run", async () => {
    const { p, executions, terminated } = dynamicPipeline(terminateBackends);
    const run = await p.run();
    expect(run.error).toBeNull();
    expect(terminated()).toBeGreaterThan(0);
    expect(await run.output()).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
    expect(executions()).toEqual({ double: 8, terminate: 1 });
    const store = await openMetadataStore();
    expect(store.dialect).toBe("postgres");
    const steps = await store.listStepRuns(run.id);
    expect(steps.every((s) => s.status === "completed" && s.attempt === 1)).toBe(true);
    expect((await store.getRun(run.id))!.status).toBe("completed");
  });
});
