// Schedules end to end: real `weir scheduler` processes firing real `weir run` processes
// against one SQLite store, with per-second cron expressions.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/stores/metadata/sqlite/sqlite-store.js";
import type { MetadataStore, RunRecord } from "../../src/stores/metadata/types.js";
import { openPostgresStore } from "../../src/stores/metadata/postgres/postgres-store.js";
import { expectUserError, ROOT, tempHome, weir, weirWith } from "../cli/weir.js";
import { createTestDatabase } from "../stores/postgres-database.js";

const FIXTURE = "test/fixtures/schedule-pipelines.ts";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const home = tempHome();
let store: MetadataStore;
const schedulers: ChildProcess[] = [];

async function openStore(): Promise<MetadataStore> {
  store ??= await openSqliteStore(join(home, "weir.db"));
  return store;
}

function startScheduler(env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, "bin/weir.js"), "scheduler", "--poll", "100"], {
    cwd: ROOT,
    env: { ...process.env, WEIR_HOME: home, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  schedulers.push(child);
  return child;
}

/** SIGTERM, then wait for the scheduler to exit (it waits for the runs it started). */
async function stopSchedulers(): Promise<void> {
  await Promise.all(
    schedulers.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    ),
  );
}

/** The runs a schedule started, by planned tick (runs of ticks fired together start in any order). */
async function runsOf(schedule: string): Promise<RunRecord[]> {
  return (await (await openStore()).listRuns({ scheduleName: schedule })).sort((a, b) => a.scheduledFor! - b.scheduledFor!);
}

/** Waits (bounded) until `count` runs of the schedule exist: scheduler and run start-ups are slow on a busy machine. */
async function untilRuns(store: MetadataStore, schedule: string, count: number, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await store.listRuns({ scheduleName: schedule })).length < count && Date.now() < deadline) await sleep(200);
}

afterEach(stopSchedulers);
afterAll(async () => store?.close());

// Every test starts CLI processes (1-3 s each on a busy 2-core machine): generous timeouts.
describe("weir schedule and weir scheduler", { timeout: 90_000 }, () => {
  it("refuses a bad cron expression, an unknown timezone and a duplicate name, naming each", async () => {
    const bad = await weir(home, "schedule", "create", "broken", "--file", FIXTURE, "--pipeline", "quick_pipeline", "--cron", "every minute");
    expectUserError(bad, 'invalid cron expression "every minute"');
    const tz = await weir(home, "schedule", "create", "broken", "--file", FIXTURE, "--pipeline", "quick_pipeline", "--cron", "* * * * *", "--timezone", "Mars/Base");
    expectUserError(tz, 'unknown timezone "Mars/Base"');
    const ok = await weir(home, "schedule", "create", "dup", "--file", FIXTURE, "--pipeline", "quick_pipeline", "--cron", "0 3 * * *", "--paused");
    expect(ok.code).toBe(0);
    const again = await weir(home, "schedule", "create", "dup", "--file", FIXTURE, "--pipeline", "quick_pipeline", "--cron", "0 4 * * *");
    expectUserError(again, 'a schedule named "dup" already exists');
    const list = await weir(home, "schedule", "list");
    expect(list.stdout).toMatch(/dup\s+│ quick_pipeline\s+│ 0 3 \* \* \*\s+│ UTC\s+│ paused/);
    expect((await weir(home, "schedule", "delete", "dup")).code).toBe(0);
    expectUserError(await weir(home, "schedule", "pause", "dup"), 'no schedule named "dup"');
  });

  it("fires each tick exactly once with three schedulers on one store, and records the schedule on each run", async () => {
    const create = await weir(
      home, "schedule", "create", "every_second", "--file", FIXTURE, "--pipeline", "quick_pipeline",
      "--cron", "* * * * * *", "--param", "label=scheduled",
    );
    expect(create.code, create.stderr).toBe(0);
    startScheduler();
    startScheduler();
    startScheduler();
    await untilRuns(await openStore(), "every_second", 3);
    await (await openStore()).updateSchedule("every_second", { paused: true });
    await stopSchedulers();

    const runs = await runsOf("every_second");
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const ticks = runs.map((r) => r.scheduledFor);
    expect(new Set(ticks).size).toBe(ticks.length); // no tick fired twice
    for (const tick of ticks) expect(tick! % 1000).toBe(0); // whole seconds, as the cron says
    for (const run of runs) {
      expect(run.status).toBe("completed");
      expect(run.scheduleName).toBe("every_second");
    }
    const list = await weir(home, "runs", "list", "--schedule", "every_second", "--limit", "100");
    expect(list.stdout.match(/quick_pipeline/g)).toHaveLength(runs.length);
  }, 90_000);

  it("fires each tick exactly once with three schedulers on one PostgreSQL store", async () => {
    const database = await createTestDatabase();
    const env = { WEIR_STORE_URL: database.url };
    const pgStore = await openPostgresStore(database.url);
    try {
      const create = await weirWith(
        { env: { WEIR_HOME: home, ...env } },
        "schedule", "create", "pg_every_second", "--file", FIXTURE, "--pipeline", "quick_pipeline", "--cron", "* * * * * *",
      );
      expect(create.code, create.stderr).toBe(0);
      startScheduler(env);
      startScheduler(env);
      startScheduler(env);
      await untilRuns(pgStore, "pg_every_second", 3);
      await pgStore.updateSchedule("pg_every_second", { paused: true });
      await stopSchedulers();
      const runs = await pgStore.listRuns({ scheduleName: "pg_every_second" });
      expect(runs.length).toBeGreaterThanOrEqual(2);
      const ticks = runs.map((r) => r.scheduledFor);
      expect(new Set(ticks).size).toBe(ticks.length);
      expect(runs.every((r) => r.status === "completed")).toBe(true);
    } finally {
      await pgStore.close();
      await database.drop();
    }
  });

  it("catches up missed ticks by policy when a scheduler comes back: all (bounded) and latest", async () => {
    const s = await openStore();
    for (const [name, catchup] of [["catch_all", "all"], ["catch_latest", "latest"]] as const) {
      const created = await weir(
        home, "schedule", "create", name, "--file", FIXTURE, "--pipeline", "quick_pipeline",
        "--cron", "* * * * * *", "--catchup", catchup, "--catchup-limit", "3",
      );
      expect(created.code, created.stderr).toBe(0);
      // As if no scheduler had run for the last 20 seconds.
      await s.updateSchedule(name, { nextFireAt: Math.floor(Date.now() / 1000) * 1000 - 20_000 });
    }
    const once = await weir(home, "scheduler", "--once");
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/catch_all: \d+ missed tick\(s\) not run/);

    const all = await runsOf("catch_all");
    expect(all).toHaveLength(3);
    expect(all[1].scheduledFor! - all[0].scheduledFor!).toBe(1000);
    expect(all.every((r) => r.status === "completed")).toBe(true);
    expect(await runsOf("catch_latest")).toHaveLength(1);
    // Both moved on to a tick in the future.
    for (const name of ["catch_all", "catch_latest"]) {
      expect((await s.getSchedule(name))!.nextFireAt).toBeGreaterThan(all[2].scheduledFor!);
    }
  }, 90_000);

  it("skips a tick while the previous run still runs when the overlap policy is skip", async () => {
    const created = await weir(
      home, "schedule", "create", "no_overlap", "--file", FIXTURE, "--pipeline", "slow_pipeline",
      "--cron", "* * * * * *", "--overlap", "skip", "--param", "ms=2500",
    );
    expect(created.code, created.stderr).toBe(0);
    const scheduler = startScheduler();
    let output = "";
    scheduler.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await sleep(4_500);
    await (await openStore()).updateSchedule("no_overlap", { paused: true });
    await stopSchedulers();

    const runs = await runsOf("no_overlap");
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.length).toBeLessThanOrEqual(2);
    for (let i = 1; i < runs.length; i++) expect(runs[i].createdAt).toBeGreaterThanOrEqual(runs[i - 1].endedAt!);
    expect(output).toMatch(/no_overlap: tick \S+ skipped, (previous run \S+ is still running|the run of tick \S+ is still starting)/);
  }, 90_000);

  it("p.schedule() validates and registers a schedule from code", async () => {
    process.env.WEIR_HOME = home;
    const { quickPipeline } = await import("../fixtures/schedule-pipelines.js");
    await expect(quickPipeline.schedule({ name: "from_code", cron: "61 * * * *" })).rejects.toThrow(/invalid cron expression "61 \* \* \* \*"/);
    await expect(quickPipeline.schedule({ name: "from_code", cron: "0 1 * * *", catchup: "some" as "all" })).rejects.toThrow(/schedule "from_code": catchup/);
    const created = await quickPipeline.schedule({ name: "from_code", cron: "0 1 * * *", timezone: "Asia/Tokyo", parameters: { label: "x" } });
    expect(created).toMatchObject({ name: "from_code", pipelineName: "quick_pipeline", timezone: "Asia/Tokyo", parameters: { label: "x" } });
    expect(created.source.module).toBe(FIXTURE);
    expect(new Date(created.nextFireAt!).getUTCHours()).toBe(16); // 01:00 in Tokyo
  });
});
