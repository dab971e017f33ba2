/**
 * One workload at one size, in its own process (forked by bench/run.ts), so that peak RSS
 * belongs to this workload alone. Prints nothing on success; sends one result message.
 *
 *   node --import tsx bench/child.ts <workload> <n> [--no-warmup] [--cold] [--cache] [--store sqlite|postgres|postgres+s3] [--orchestrator local_process [--no-boot]]
 *
 * `--cold` measures what a user's `weir run` is: one run in a fresh process, the store
 * created by it, nothing warmed (no warm-up run; the floor runs after the measured run).
 * `--cache` runs the measured run with the cache on, as `weir run` does by default: every
 * step computes its cache key and looks it up (all miss: the store is fresh) before it runs.
 *
 * `--store postgres`: the metadata store is a throw-away PostgreSQL database on 127.0.0.1:5432
 * (created here, selected with WEIR_STORE_URL, dropped at the end), artifacts local files.
 * `--store postgres+s3`: the same, with the artifacts in S3 (s3rver on loopback, started here
 * in a process of its own before anything is measured). The warm-up run uses the same
 * database, so a warm run finds its connections open; a cold run opens them itself.
 *
 * `--orchestrator local_process`: every step attempt in a child process of its own (the
 * `local_process` orchestrator with its defaults: the machine's CPUs, no memory limit), on the
 * SQLite store; the step processes import the steps from bench/workloads.ts. After the run it
 * boots five step processes ahead, one at a time, for the `boot` figure (`--no-boot`: not, e.g.
 * to time the whole process against an older checkout).
 */
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";
import { LocalOrchestrator, LocalProcessOrchestrator, S3ArtifactStore, Stack } from "weir";
import { openStore } from "../src/stores/metadata/open.js";
import { createTestDatabase } from "../test/stores/postgres-database.js";
import { startS3rver } from "../test/stores/s3rver.js";
import { workloads } from "./workloads.js";

export const STORES = ["sqlite", "postgres", "postgres+s3"] as const;
export type StoreKind = (typeof STORES)[number];
export const ORCHESTRATORS = ["local", "local_process"] as const;
export type OrchestratorKind = (typeof ORCHESTRATORS)[number];

export interface ChildResult {
  workload: string;
  n: number;
  /** Where the run was recorded (metadata store + artifact store). */
  store: StoreKind;
  /** Where the steps ran: in the engine's process (local) or one child process per attempt (local_process). */
  orchestrator?: OrchestratorKind;
  stepRuns: number;
  /** The measured run had the cache on (`--cache`; a fresh store, so every lookup misses). */
  cache?: boolean;
  /** Wall time of `pipeline.run(params, { enableCache: false })` (or `true` with `--cache`), ms. */
  wallMs: number;
  /** Wall time of the same functions called directly (best of three), ms. */
  floorMs: number;
  /**
   * One autocommit SQLite INSERT per step run, in this process after the run (WAL,
   * synchronous=NORMAL, as weir's store): the cost of one durable write per step, ms.
   */
  insertFloorMs: number;
  /** process.resourceUsage().maxRSS at the end, KiB. */
  maxRssKiB: number;
  /** What the metadata store holds after the run (proves everything was recorded). */
  recorded: { stepRuns: number; completed: number; artifactVersions: number; outputLinks: number };
  status: string;
  outputMatchesFloor: boolean;
  warmupN: number;
  /** Measured as the first thing the process did (see `--cold`). */
  cold: boolean;
  /** The measured run's end, from the process's start (start-up and module loading included), ms. */
  sinceProcessStartMs: number;
  /** local_process rows: CPU time (user + system) of the step processes of the measured run, ms (Linux). */
  childrenCpuMs?: number;
  /**
   * local_process rows: what booting one step process ahead costs (fork → ready, as the launcher
   * forks it for this workload's module), measured alone after the run: CPU ms (Linux) and wall ms, median of 5.
   */
  boot?: { cpuMs: number; wallMs: number };
}

async function main(): Promise<void> {
  const [name, nText, ...flags] = process.argv.slice(2);
  const workload = workloads[name];
  if (!workload) throw new Error(`unknown workload ${name} (known: ${Object.keys(workloads).join(", ")})`);
  const n = Number(nText);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad size ${nText}`);
  const keep = flags.includes("--keep");
  const cold = flags.includes("--cold");
  const cache = flags.includes("--cache");
  const storeFlag = flags.indexOf("--store");
  const store = (storeFlag >= 0 ? flags[storeFlag + 1] : "sqlite") as StoreKind;
  if (!STORES.includes(store)) throw new Error(`unknown store ${store} (known: ${STORES.join(", ")})`);
  const orchestratorFlag = flags.indexOf("--orchestrator");
  const orchestrator = (orchestratorFlag >= 0 ? flags[orchestratorFlag + 1] : "local") as OrchestratorKind;
  if (!ORCHESTRATORS.includes(orchestrator)) throw new Error(`unknown orchestrator ${orchestrator} (known: ${ORCHESTRATORS.join(", ")})`);
  if (orchestrator === "local_process" && store !== "sqlite") throw new Error("--orchestrator local_process runs on the SQLite store only");

  // Set up outside the measurement: the database exists and s3rver listens before any run.
  const database = store === "sqlite" ? undefined : await createTestDatabase();
  if (database) process.env.WEIR_STORE_URL = database.url;
  const s3 = store === "postgres+s3" ? await startS3rver(["bench"]) : undefined;
  const stack = s3
    ? new Stack({
        name: "bench-s3",
        orchestrator: new LocalOrchestrator({ name: "local" }),
        artifactStore: new S3ArtifactStore({ name: "bench", bucket: "bench", endpoint: s3.endpoint, forcePathStyle: true }),
      })
    : orchestrator === "local_process"
      ? new Stack({ name: "bench-process", orchestrator: new LocalProcessOrchestrator({ name: "process", echoOutput: false }) })
      : undefined;

  // Floor first (unless cold): it is small, so it does not set the peak RSS; best of three (JIT warm-up).
  let floorMs = Infinity;
  let floorOutput: unknown;
  const floor = async () => {
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      floorOutput = await workload.floor(n);
      floorMs = Math.min(floorMs, performance.now() - start);
    }
  };
  if (!cold) await floor();

  // A small warm-up run in its own home: loads weir's modules, opens the store, warms the JIT.
  const warmupN = cold || flags.includes("--no-warmup") ? 0 : Math.max(2, Math.min(200, Math.floor(n / 10)));
  const homes: string[] = [];
  if (warmupN > 0) {
    const home = mkdtempSync(join(tmpdir(), "weir-bench-warmup-"));
    homes.push(home);
    process.env.WEIR_HOME = home;
    const warm = await workload.pipeline.run({ n: warmupN }, { stack, enableCache: false });
    if (warm.status !== "completed") throw new Error(`warm-up run failed: ${warm.error}`);
  }

  const home = mkdtempSync(join(tmpdir(), `weir-bench-${name}-`));
  homes.push(home);
  process.env.WEIR_HOME = home;
  const childrenCpuBefore = childrenCpuMs();
  const start = performance.now();
  const run = await workload.pipeline.run({ n }, { stack, enableCache: cache });
  const sinceProcessStartMs = performance.now();
  const wallMs = sinceProcessStartMs - start;
  const maxRssKiB = process.resourceUsage().maxRSS;
  const childrenCpu = childrenCpuMs() - childrenCpuBefore;
  if (cold) await floor();
  const insertFloorMs = insertFloor(workload.stepRuns(n));
  const boot = orchestrator === "local_process" && !flags.includes("--no-boot") ? await measureBoot() : undefined;

  const output = run.status === "completed" ? await run.output() : undefined;
  const recorded = await countRecorded(database?.url ?? `sqlite:${join(home, "weir.db")}`, run.id);
  if (!keep) for (const dir of homes) rmSync(dir, { recursive: true, force: true });

  const result: ChildResult = {
    workload: name,
    n,
    store,
    orchestrator,
    stepRuns: workload.stepRuns(n),
    wallMs,
    floorMs,
    insertFloorMs,
    maxRssKiB,
    recorded,
    status: run.status,
    outputMatchesFloor: isDeepStrictEqual(output ?? null, floorOutput ?? null),
    warmupN,
    cold,
    ...(cache ? { cache } : {}),
    sinceProcessStartMs,
    ...(orchestrator === "local_process" ? { childrenCpuMs: childrenCpu, boot } : {}),
  };
  if (process.send) await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  else console.log(JSON.stringify(result));
  // After the result: dropping the database cuts the run's own connections (FORCE).
  await s3?.stop();
  if (database && !keep) await database.drop();
}

/** `count` single-row autocommit inserts into a fresh SQLite file in tmpdir (see ChildResult.insertFloorMs). */
function insertFloor(count: number): number {
  const dir = mkdtempSync(join(tmpdir(), "weir-bench-insert-"));
  const db = new Database(join(dir, "floor.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec("CREATE TABLE step_runs (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO step_runs (id, run_id, body) VALUES (?, ?, ?)");
    const body = JSON.stringify({ status: "completed", invocationId: "step", padding: "x".repeat(160) });
    const start = performance.now();
    for (let i = 0; i < count; i++) insert.run(`step-run-${i}`, "run", body);
    return performance.now() - start;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time of this process's children that have exited and were waited for (Linux: /proc/self/stat), ms; NaN elsewhere. */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 of stat(5), cutime and cstime, in clock ticks (USER_HZ = 100 on Linux).
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * Boots a step process ahead until it reports ready, forked as the launcher forks one for a
 * TypeScript module (bench/workloads.ts: its precompiled JavaScript's hooks), then kills it;
 * five times, one at a time. Its CPU time counts once it has been waited for.
 */
async function measureBoot(): Promise<{ cpuMs: number; wallMs: number }> {
  const { STEP_ENTRYPOINT, precompiledImport, warmForkArguments } = await import("../dist/orchestrators/local-process/process-launcher.js");
  const { Precompiler } = await import("../dist/orchestrators/local-process/precompile.js");
  const precompiler = new Precompiler();
  const manifest = await precompiler.prepare(join(import.meta.dirname, "workloads.ts"));
  if (!manifest) throw new Error("bench/workloads.ts could not be precompiled");
  const { execArgv, args } = warmForkArguments(["--import", precompiledImport(manifest)]);
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < 5; i++) {
    const cpuBefore = childrenCpuMs();
    const started = performance.now();
    const child = fork(STEP_ENTRYPOINT, ["--warm", ...args], { execArgv, stdio: ["ignore", "ignore", "ignore", "ipc"], serialization: "advanced" });
    await new Promise<void>((resolve, reject) => {
      child.on("message", (message: { type?: string }) => message.type === "ready" && resolve());
      child.once("exit", (code) => reject(new Error(`a step process forked ahead exited with ${code} before it was ready`)));
    });
    wall.push(performance.now() - started);
    await new Promise((resolve) => {
      child.removeAllListeners("exit");
      child.once("exit", resolve);
      child.kill("SIGKILL");
    });
    cpu.push(childrenCpuMs() - cpuBefore);
  }
  precompiler.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { cpuMs: median(cpu), wallMs: median(wall) };
}

/** What the store holds for the run, read through its URL like any other process would. */
async function countRecorded(url: string, runId: string): Promise<ChildResult["recorded"]> {
  const reader = await openStore(url);
  try {
    const stepRuns = await reader.listStepRuns(runId);
    const links = [];
    // A few queries in flight at a time: one per step run, 10,000 of them on PostgreSQL.
    for (let i = 0; i < stepRuns.length; i += 256) {
      const chunk = stepRuns.slice(i, i + 256);
      links.push(...(await Promise.all(chunk.map((s) => reader.listStepOutputs(s.id)))).flat());
    }
    return {
      stepRuns: stepRuns.length,
      completed: stepRuns.filter((s) => s.status === "completed").length,
      artifactVersions: new Set(links.map((l) => l.artifactVersionId)).size,
      outputLinks: links.length,
    };
  } finally {
    await reader.close();
  }
}

main().then(
  // Exit explicitly: the metadata store stays open (one per home per process).
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
