/**
 * Fan-out on the queue orchestrator with 1, 2 and 4 worker processes (real Redis on
 * 127.0.0.1:6379, a fresh metadata store per case, caching off).
 *
 *   node --import tsx bench/queue-bench.ts                      n=10,000, workers 1,2,4, one run each
 *   node --import tsx bench/queue-bench.ts --n 2000 --workers 2 --runs 10
 *   node --cpu-prof --cpu-prof-dir P --import tsx bench/queue-bench.ts --profile P   CPU profiles of the engine and the workers
 *   WEIR_STORE_URL=postgresql://… node --import tsx bench/queue-bench.ts   another metadata store (when supported)
 *
 * For each run it checks that no step was lost or doubled (n + 2 step runs, all completed
 * in one attempt, the merge saw n results) and prints steps/s and the wall time per step.
 * Workers run attempts in-process and are given `cpu=64` so that their concurrency, not
 * their CPU count, bounds how many tiny steps they run at once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { QueueOrchestrator, Stack } from "weir";
import { closeMetadataStores, openMetadataStore } from "../src/config/home.js";
import { queueFanOut } from "./queue-workload.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    workers: { type: "string", default: "1,2,4" },
    runs: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    /** Also write the workers' CPU profiles to this folder (run this script with --cpu-prof for the engine's). */
    profile: { type: "string" },
  },
});
const n = Number(values.n);
const runs = Number(values.runs);

interface Row {
  workers: number;
  run: number;
  wallMs: number;
  stepsPerSec: number;
  usPerStep: number;
  ok: string;
  /** For bench/run.ts: step runs, completed ones, what the merge saw, the engine process's peak RSS (KiB). */
  stepRuns: number;
  completed: number;
  merged: number;
  engineMaxRssKiB: number;
}

function startWorker(home: string, stackName: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [...(values.profile ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : []), "--import", "tsx", join(root, "test/worker/weir-source.ts"), "worker", "--stack", stackName, "--resources", "cpu=64", "--concurrency", values.concurrency],
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

async function benchCase(workerCount: number): Promise<Row[]> {
  const home = mkdtempSync(join(tmpdir(), "weir-queue-bench-"));
  process.env.WEIR_HOME = home;
  const prefix = `weirbench-${process.pid}-${workerCount}`;
  const stack = new Stack({ name: "queue-bench", orchestrator: new QueueOrchestrator({ redisUrl: values.redis, prefix, maxParallel: 20_000 }) });
  const store = await openMetadataStore();
  await store.saveStack({ name: stack.name, components: stack.components() });
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startWorker(home, stack.name)));
  const rows: Row[] = [];
  try {
    for (let r = 1; r <= runs; r++) {
      const started = performance.now();
      const run = await queueFanOut.run({ n }, { stack, enableCache: false });
      const wallMs = performance.now() - started;
      const output = (await run.output()) as { shards: number };
      const stepRuns = run.steps.length;
      const sound = run.status === "completed" && stepRuns === n + 2 && output.shards === n && run.steps.every((s) => s.status === "completed" && s.attempts === 1);
      const ok = sound ? "yes" : `NO (status ${run.status}, ${stepRuns} step runs, merge saw ${output?.shards}, ${run.error ?? ""})`;
      const completed = run.steps.filter((s) => s.status === "completed").length;
      const engineMaxRssKiB = process.resourceUsage().maxRSS;
      rows.push({ workers: workerCount, run: r, wallMs, stepsPerSec: ((n + 2) / wallMs) * 1000, usPerStep: (wallMs * 1000) / (n + 2), ok, stepRuns, completed, merged: output?.shards ?? 0, engineMaxRssKiB });
      console.log(JSON.stringify(rows[rows.length - 1]));
    }
  } finally {
    await Promise.all(workers.map((w) => new Promise((done) => (w.once("exit", done), w.kill("SIGTERM")))));
    await closeMetadataStores();
    await deleteKeys(prefix);
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

const all: Row[] = [];
for (const count of values.workers.split(",").map(Number)) all.push(...(await benchCase(count)));
console.log(`\nfan-out n=${n} on the queue orchestrator (caching off)`);
console.log("| workers | run | wall | steps/s | per step | nothing lost or doubled |");
console.log("|--:|--:|--:|--:|--:|:--|");
for (const r of all) {
  console.log(`| ${r.workers} | ${r.run} | ${(r.wallMs / 1000).toFixed(2)} s | ${Math.round(r.stepsPerSec)} | ${Math.round(r.usPerStep)} µs | ${r.ok} |`);
}
process.exit(0);
