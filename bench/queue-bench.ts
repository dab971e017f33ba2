/**
 * Fan-out on the queue orchestrator with 1, 2 and 4 worker processes (real Redis on
 * 127.0.0.1:6379, a fresh metadata store per case, caching off).
 *
 *   node --import tsx bench/queue-bench.ts                      n=10,000, workers 1,2,4, one run each
 *   node --import tsx bench/queue-bench.ts --n 2000 --workers 2 --runs 10
 *   node --import tsx bench/queue-bench.ts --store postgres --runs 10   a throw-away PostgreSQL database per case
 *   node --cpu-prof --cpu-prof-dir P --import tsx bench/queue-bench.ts --profile P   CPU profiles of the engine and the workers
 *
 * For each run it counts the steps lost (an expected step run missing or not completed, or
 * the merge saw fewer than n results) and doubled (a step run recorded twice, run in a second
 * attempt, or run again after its worker was thought lost), prints steps/s and the wall time
 * per step, and at the end the lost and doubled steps summed over all runs.
 * Workers run attempts in-process and are given `cpu=64` so that their concurrency, not
 * their CPU count, bounds how many tiny steps they run at once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { QueueOrchestrator, Stack, type PipelineRun } from "weir";
import { closeMetadataStores, openMetadataStore } from "../src/config/home.js";
import { createTestDatabase } from "../test/stores/postgres-database.js";
import { queueFanOut } from "./queue-workload.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    workers: { type: "string", default: "1,2,4" },
    runs: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    /** `postgres`: the metadata store is a throw-away database on 127.0.0.1:5432, as in bench/child.ts. */
    store: { type: "string", default: "sqlite" },
    /** Also write the workers' CPU profiles to this folder (run this script with --cpu-prof for the engine's). */
    profile: { type: "string" },
  },
});
const n = Number(values.n);
const runs = Number(values.runs);
if (values.store !== "sqlite" && values.store !== "postgres") throw new Error(`--store ${values.store}: sqlite or postgres`);

interface Row {
  store: string;
  workers: number;
  run: number;
  wallMs: number;
  stepsPerSec: number;
  usPerStep: number;
  ok: string;
  lost: number;
  doubled: number;
  /** For bench/run.ts: step runs, completed ones, what the merge saw, the engine process's peak RSS (KiB). */
  stepRuns: number;
  completed: number;
  merged: number;
  engineMaxRssKiB: number;
  /** CPU time during the run, ms: this (engine) process, all workers, redis-server, all postgres processes (NaN off Linux). */
  cpuMs: { engine: number; workers: number; redis: number; postgres: number };
}

/** utime + stime (+ the children's that were waited for, which is how ended PostgreSQL backends count) of a process, ms. */
function processCpuMs(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** Summed CPU time of every process whose name is `name` (0 when none can be read). */
function cpuOfNamed(name: string): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) === name) total += processCpuMs(pid);
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

function cpuSnapshot(workers: ChildProcess[]): Row["cpuMs"] {
  const usage = process.cpuUsage();
  return {
    engine: (usage.user + usage.system) / 1000,
    workers: workers.reduce((sum, w) => sum + processCpuMs(w.pid!), 0),
    redis: cpuOfNamed("redis-server"),
    postgres: cpuOfNamed("postgres"),
  };
}

function startWorker(home: string, stackName: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    // The built `weir` command, as users start workers (the workload's steps import the built
    // package too: one copy of weir per worker).
    [...(values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : []), join(root, "bin/weir.js"), "worker", "--stack", stackName, "--resources", "cpu=64", "--concurrency", values.concurrency],
    { cwd: root, env: { ...process.env, WEIR_HOME: home }, stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((ready, fail) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (/ready:/.test(out)) ready(child);
    });
    child.once("exit", (code) => fail(new Error(`worker exited with ${code}: ${out}`)));
  });
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(values.redis);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
  redis.disconnect();
}

/** Lost and doubled steps of one run of `queueFanOut` (n + 2 step runs: count, n shards, merge). */
function lostAndDoubled(run: PipelineRun, merged: number): { lost: number; doubled: number } {
  const completed = new Set(run.steps.filter((s) => s.status === "completed").map((s) => s.name));
  const recordedTwice = run.steps.length - new Set(run.steps.map((s) => s.name)).size;
  const reRun = run.steps.reduce((sum, s) => {
    const lostExecutions = (s.metadata.queue as { lostExecutions?: unknown[] } | undefined)?.lostExecutions?.length ?? 0;
    return sum + (s.attempts - 1) + lostExecutions;
  }, 0);
  return { lost: Math.max(n + 2 - completed.size, n - merged), doubled: recordedTwice + reRun };
}

async function benchCase(workerCount: number): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), "weir-queue-bench-"));
  process.env.WEIR_HOME = home;
  // Created outside the measurement; the workers inherit WEIR_STORE_URL.
  const database = values.store === "postgres" ? await createTestDatabase() : undefined;
  if (database) process.env.WEIR_STORE_URL = database.url;
  const prefix = `weirbench-${process.pid}-${workerCount}`;
  const stack = new Stack({ name: "queue-bench", orchestrator: new QueueOrchestrator({ redisUrl: values.redis, prefix, maxParallel: 20_000 }) });
  const store = await openMetadataStore();
  await store.saveStack({ name: stack.name, components: stack.components() });
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startWorker(home, stack.name)));
  const rows: Row[] = [];
  try {
    for (let r = 1; r <= runs; r++) {
      const cpuBefore = cpuSnapshot(workers);
      const started = performance.now();
      const run = await queueFanOut.run({ n }, { stack, enableCache: false });
      const wallMs = performance.now() - started;
      const cpuAfter = cpuSnapshot(workers);
      const cpuMs = { engine: cpuAfter.engine - cpuBefore.engine, workers: cpuAfter.workers - cpuBefore.workers, redis: cpuAfter.redis - cpuBefore.redis, postgres: cpuAfter.postgres - cpuBefore.postgres };
      const output = run.status === "completed" ? ((await run.output()) as { shards: number }) : undefined;
      const merged = output?.shards ?? 0;
      const stepRuns = run.steps.length;
      const { lost, doubled } = lostAndDoubled(run, merged);
      const sound = run.status === "completed" && stepRuns === n + 2 && lost === 0 && doubled === 0;
      const ok = sound ? "yes" : `NO (status ${run.status}, ${stepRuns} step runs, merge saw ${merged}, ${run.error ?? ""})`;
      const completed = run.steps.filter((s) => s.status === "completed").length;
      const engineMaxRssKiB = process.resourceUsage().maxRSS;
      rows.push({ store: values.store, workers: workerCount, run: r, wallMs, stepsPerSec: ((n + 2) / wallMs) * 1000, usPerStep: (wallMs * 1000) / (n + 2), ok, lost, doubled, stepRuns, completed, merged, engineMaxRssKiB, cpuMs });
      console.log(JSON.stringify(rows[rows.length - 1]));
    }
  } finally {
    await Promise.all(workers.map((w) => new Promise((done) => (w.once("exit", done), w.kill("SIGTERM")))));
    await closeMetadataStores();
    await database?.drop();
    delete process.env.WEIR_STORE_URL;
    await deleteKeys(prefix);
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

const all: Row[] = [];
for (const count of values.workers.split(",").map(Number)) all.push(...(await benchCase(count)));
console.log(`\nfan-out n=${n} on the queue orchestrator, ${values.store === "postgres" ? "PostgreSQL" : "SQLite"} store (caching off)`);
console.log("| workers | run | wall | steps/s | per step | lost | doubled | CPU/step: engine | workers | redis | postgres |");
console.log("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
for (const r of all) {
  const perStep = (ms: number) => `${Math.round((ms * 1000) / (n + 2))} µs`;
  console.log(`| ${r.workers} | ${r.run} | ${(r.wallMs / 1000).toFixed(2)} s | ${Math.round(r.stepsPerSec)} | ${Math.round(r.usPerStep)} µs | ${r.lost} | ${r.doubled} | ${perStep(r.cpuMs.engine)} | ${perStep(r.cpuMs.workers)} | ${perStep(r.cpuMs.redis)} | ${perStep(r.cpuMs.postgres)} |`);
}
const sum = (key: "lost" | "doubled") => all.reduce((total, r) => total + r[key], 0);
console.log(`\nacross ${all.length} runs (${runs} per worker count) of ${n + 2} steps: ${sum("lost")} lost, ${sum("doubled")} doubled`);
process.exit(0);
