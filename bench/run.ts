/**
 * The weir benchmark suite: orchestration overhead on the default stack (SQLite metadata
 * store + local artifact files), every step run and artifact recorded, caching off; and the
 * fan-out on PostgreSQL (127.0.0.1:5432, a throw-away database per case) with local or S3
 * artifacts (s3rver on loopback).
 *
 *   npm run bench                      full suite (several minutes; needs PostgreSQL)
 *   npm run bench -- --queue           also the queue orchestrator rows (Redis on 127.0.0.1:6379)
 *   npm run bench -- --only queue      the queue rows alone (--only takes workloads, stores or "queue")
 *   npm run bench -- --only local_process   the local_process rows alone (a process per step attempt)
 *   npm run bench -- --quick           small sizes, under a minute
 *   npm run bench -- --only fan_out    one workload (all its sizes)
 *   npm run bench -- --only fan_out+cache   the rows with the cache on (as `weir run` has it by default)
 *   npm run bench -- --profile         also write a CPU profile per workload to bench/results/profiles/
 *   npm run bench -- --label before    names the dated copy of the results (…-before.json)
 *   npm run bench -- --tmpdir /dev/shm where the WEIR_HOMEs go (default: os.tmpdir())
 *   npm run bench -- --sizes 1000,5000 other sizes for the selected workloads
 *   npm run bench -- --repeat 3        runs each case 3 times (fresh process each) and reports the median
 *   npm run bench -- --cold            cold rows only (one run in a fresh process, nothing warmed)
 *
 * Each workload runs in its own child process (bench/child.ts), so peak RSS is per workload.
 */
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import Table from "cli-table3";
import type { ChildResult, OrchestratorKind, StoreKind } from "./child.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, "results");
const profilesDir = join(resultsDir, "profiles");

interface Case {
  workload: string;
  n: number;
  /** One run in a fresh process, nothing warmed: what a user's `weir run` pays. */
  cold?: boolean;
  /** Metadata + artifact store (default: SQLite + local files). */
  store?: StoreKind;
  /** Queue orchestrator rows: this many worker processes (bench/queue-bench.ts). */
  workers?: number;
  /** local_process rows: every step attempt in a child process of its own. */
  orchestrator?: OrchestratorKind;
  /** The measured run with the cache on, as `weir run` has it by default (a fresh store: every lookup misses). */
  cache?: boolean;
}

/** A process per step attempt (local_process, SQLite): a chain of 100 and a fan-out of 1,000, warm and cold. */
const LOCAL_PROCESS: Case[] = [
  { workload: "chain", n: 100, orchestrator: "local_process" },
  { workload: "chain", n: 100, orchestrator: "local_process", cold: true },
  { workload: "fan_out", n: 1_000, orchestrator: "local_process" },
  { workload: "fan_out", n: 1_000, orchestrator: "local_process", cold: true },
];

/** Both stores on PostgreSQL, warm and cold, at the sizes the issue asks about. */
const POSTGRES: Case[] = (["postgres", "postgres+s3"] as const).flatMap((store) =>
  [1_000, 10_000].flatMap((n) => [
    { workload: "fan_out", n, store },
    { workload: "fan_out", n, store, cold: true },
  ]),
);

/** Fan-out 10,000 on the queue orchestrator (Redis; SQLite, then PostgreSQL): behind --queue, a few minutes. */
/** Warm: runs 2 and 3 of one engine process and its workers (run 1 warms up); cold: run 1 of fresh ones. */
const QUEUE: Case[] = (["sqlite", "postgres"] as const).flatMap((store) =>
  [1, 2, 4].flatMap((workers): Case[] => [{ workload: "queue_fan_out", n: 10_000, workers, store }, { workload: "queue_fan_out", n: 10_000, workers, store, cold: true }]),
);

const FULL: Case[] = [
  { workload: "fan_out", n: 1_000 },
  { workload: "fan_out", n: 1_000, cold: true },
  { workload: "fan_out", n: 10_000 },
  { workload: "fan_out", n: 10_000, cold: true },
  { workload: "fan_out", n: 10_000, cache: true },
  { workload: "fan_out", n: 10_000, cold: true, cache: true },
  { workload: "fan_out", n: 100_000 },
  { workload: "chain", n: 1_000 },
  { workload: "wide", n: 10_000 },
  { workload: "map_collect", n: 10_000 },
  ...POSTGRES,
  // The fan-out of 1,000 step processes takes minutes per run: only `--only local_process` adds it.
  ...LOCAL_PROCESS.filter((c) => c.workload === "chain"),
];

const QUICK: Case[] = [
  { workload: "fan_out", n: 1_000 },
  { workload: "fan_out", n: 1_000, cold: true },
  { workload: "fan_out", n: 5_000 },
  { workload: "chain", n: 200 },
  { workload: "wide", n: 2_000 },
  { workload: "map_collect", n: 2_000 },
  { workload: "chain", n: 20, orchestrator: "local_process" },
];

export interface BenchRow extends ChildResult {
  workers?: number;
  stepsPerSec: number;
  overheadUsPerStep: number;
  ratio: number;
  /** wallMs / insertFloorMs: weir against one autocommit SQLite insert per step. */
  insertRatio: number;
  /** Every repetition (the row shows the one with the median wall time). */
  repeats: { wallMs: number; floorMs: number; maxRssKiB: number }[];
}

function parseArgs(argv: string[]) {
  const options = {
    quick: false,
    profile: false,
    cold: false,
    queue: false,
    only: [] as string[],
    label: "",
    sizes: [] as number[],
    tmpdir: "",
    repeat: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const [, inline] = arg.split("=", 2);
      return inline ?? argv[++i];
    };
    if (arg === "--quick") options.quick = true;
    else if (arg === "--profile") options.profile = true;
    else if (arg === "--cold") options.cold = true;
    else if (arg === "--queue") options.queue = true;
    else if (arg.startsWith("--only")) options.only.push(...value().split(","));
    else if (arg.startsWith("--label")) options.label = value();
    else if (arg.startsWith("--sizes")) options.sizes = value().split(",").map(Number);
    else if (arg.startsWith("--tmpdir")) options.tmpdir = value();
    else if (arg.startsWith("--repeat")) options.repeat = Math.max(1, Number(value()));
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

/** A case's name in messages, profile folders and `--only`. */
function caseName(c: Pick<Case, "workload" | "store" | "workers" | "orchestrator" | "cache">): string {
  const store = c.store && c.store !== "sqlite" ? `@${c.store}` : "";
  const orchestrator = c.orchestrator && c.orchestrator !== "local" ? `@${c.orchestrator}` : "";
  return c.workers ? `${c.workload}-${c.workers}w${store}` : `${c.workload}${store}${orchestrator}${c.cache ? "+cache" : ""}`;
}

function runChild(c: Case, profile: boolean, tmpDir: string): Promise<ChildResult> {
  if (c.workers) return runQueueCase(c, tmpDir);
  const execArgv = ["--import", "tsx"];
  if (profile) {
    // One folder per case: V8 writes one profile per thread (the main thread's is the biggest;
    // tsx's module-loader thread writes one too).
    const dir = join(profilesDir, `${caseName(c).replace("+", "-")}-${c.n}${c.cold ? "-cold" : ""}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  return new Promise((resolve, reject) => {
    // The AWS SDK (S3 rows) otherwise warns in every process that its 2027 releases need Node 22.
    const env: NodeJS.ProcessEnv = {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      ...process.env,
      TSX_TSCONFIG_PATH: join(here, "tsconfig.json"),
    };
    if (tmpDir) env.TMPDIR = tmpDir;
    const args = [c.workload, String(c.n), ...(c.cold ? ["--cold"] : []), ...(c.cache ? ["--cache"] : []), "--store", c.store ?? "sqlite", "--orchestrator", c.orchestrator ?? "local"];
    const child = fork(join(here, "child.ts"), args, { execArgv, env, stdio: "inherit" });
    let result: ChildResult | undefined;
    child.on("message", (message) => (result = message as ChildResult));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (result) resolve(result);
      else reject(new Error(`${c.workload} N=${c.n}: child exited with ${signal ?? code} and no result`));
    });
  });
}

/**
 * One queue case: bench/queue-bench.ts with `--workers W` (it starts the workers and checks that
 * no step was lost or doubled). There is no floor: the row's overhead is the wall time per step.
 */
function runQueueCase(c: Case, tmpDir: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: join(here, "tsconfig.json") };
    if (tmpDir) env.TMPDIR = tmpDir;
    const args = ["--n", String(c.n), "--workers", String(c.workers), "--runs", c.cold ? "1" : "3", "--store", c.store ?? "sqlite"];
    const child = fork(join(here, "queue-bench.ts"), args, { execArgv: ["--import", "tsx"], env, stdio: ["ignore", "pipe", "inherit", "ipc"] });
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      type QueueRun = { wallMs: number; stepRuns: number; completed: number; merged: number; lost: number; doubled: number; engineMaxRssKiB: number };
      const all = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as QueueRun);
      if (all.length === 0) return reject(new Error(`${caseName(c)} N=${c.n}: queue-bench exited with ${signal ?? code} and no result:\n${out}`));
      // Warm: the median of the runs after the first (which warmed the engine and workers up).
      const measured = c.cold ? all : all.slice(1).sort((a, b) => a.wallMs - b.wallMs);
      const q = measured[Math.floor((measured.length - 1) / 2)] ?? all[0];
      const sound = code === 0 && all.every((r) => r.completed === r.stepRuns && r.lost === 0 && r.doubled === 0);
      resolve({
        workload: c.workload,
        n: c.n,
        store: c.store ?? "sqlite",
        stepRuns: c.n + 2,
        wallMs: q.wallMs,
        floorMs: 0,
        insertFloorMs: 0,
        maxRssKiB: q.engineMaxRssKiB,
        recorded: { stepRuns: q.stepRuns, completed: q.completed, artifactVersions: 0, outputLinks: 0 },
        status: sound ? "completed" : `exit ${signal ?? code}, ${all.reduce((n, r) => n + r.lost, 0)} lost, ${all.reduce((n, r) => n + r.doubled, 0)} doubled`,
        outputMatchesFloor: all.every((r) => r.merged === c.n),
        warmupN: c.cold ? 0 : c.n,
        cold: !!c.cold,
        sinceProcessStartMs: 0,
      });
    });
  });
}

function toRow(results: ChildResult[]): BenchRow {
  const sorted = [...results].sort((a, b) => a.wallMs - b.wallMs);
  const r = sorted[Math.floor((sorted.length - 1) / 2)];
  return {
    ...r,
    stepsPerSec: r.stepRuns / (r.wallMs / 1000),
    overheadUsPerStep: ((r.wallMs - r.floorMs) * 1000) / r.stepRuns,
    ratio: r.floorMs > 0 ? r.wallMs / r.floorMs : NaN,
    insertRatio: r.insertFloorMs > 0 ? r.wallMs / r.insertFloorMs : NaN,
    repeats: results.map(({ wallMs, floorMs, maxRssKiB }) => ({ wallMs, floorMs, maxRssKiB })),
  };
}

const fmt = {
  int: (x: number) => Math.round(x).toLocaleString("en-US"),
  ms: (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`),
  floor: (x: number) => (x === 0 ? "—" : x >= 1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(0)} µs`),
  us: (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} ms` : `${x.toFixed(1)} µs`),
  ratio: (x: number) => Number.isNaN(x) ? "—" : `${x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1)}×`,
  mib: (kib: number) => `${(kib / 1024).toFixed(0)} MiB`,
};

export function renderTable(rows: BenchRow[]): string {
  const table = new Table({
    head: ["workload", "store", "N", "step runs", "wall", "floor", "steps/s", "overhead/step", "weir/floor", "1 insert/step", "weir/insert", "peak RSS"],
    colAligns: ["left", "left", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right"],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      rowName(r),
      storeLabel(r),
      fmt.int(r.n),
      fmt.int(r.stepRuns),
      fmt.ms(r.wallMs),
      fmt.floor(r.floorMs),
      fmt.int(r.stepsPerSec),
      fmt.us(r.overheadUsPerStep),
      fmt.ratio(r.ratio),
      r.insertFloorMs ? fmt.ms(r.insertFloorMs) : "—",
      fmt.ratio(r.insertRatio ?? NaN),
      fmt.mib(r.maxRssKiB),
    ]);
  }
  return table.toString();
}

function storeLabel(r: { store?: StoreKind; workers?: number; orchestrator?: OrchestratorKind }): string {
  const label = { sqlite: "SQLite + local", postgres: "PostgreSQL + local", "postgres+s3": "PostgreSQL + S3" }[r.store ?? "sqlite"];
  if (r.orchestrator === "local_process") return `${label}, local_process`;
  return r.workers ? `${label}, queue (Redis)` : label;
}

/** A row's workload with how it ran: "fan_out (cold, cache on)", "queue_fan_out (4 workers)". */
function rowName(r: BenchRow): string {
  const how = [r.workers ? `${r.workers} worker${r.workers > 1 ? "s" : ""}` : "", r.cold ? "cold" : "", r.cache ? "cache on" : ""].filter(Boolean);
  return how.length > 0 ? `${r.workload} (${how.join(", ")})` : r.workload;
}

/** The issue's targets, checked on whatever rows this run has. */
export function checkTargets(rows: BenchRow[]): string[] {
  const find = (w: string, n: number, cold = false, store: StoreKind = "sqlite", orchestrator: OrchestratorKind = "local") =>
    rows.find(
      (r) =>
        r.workload === w && r.n === n && !!r.cold === cold && (r.store ?? "sqlite") === store && !r.workers && !r.cache && (r.orchestrator ?? "local") === orchestrator,
    );
  const lines: string[] = [];
  for (const [store, target] of [["postgres", 300], ["postgres+s3", 500]] as const) {
    for (const cold of [false, true]) {
      const r = find("fan_out", 10_000, cold, store);
      if (!r) continue;
      const ok = r.overheadUsPerStep <= target;
      lines.push(`${ok ? "MET " : "MISS"} fan_out N=10,000${cold ? " cold" : ""} on ${storeLabel(r)} overhead/step ≤ ${target} µs: ${fmt.us(r.overheadUsPerStep)}`);
    }
  }
  // Issue 16: the default stack to the durable floor.
  for (const [workload, n, target] of [["fan_out", 1_000, 50], ["fan_out", 10_000, 50], ["chain", 1_000, 60]] as const) {
    for (const cold of [false, true]) {
      const r = find(workload, n, cold);
      if (!r) continue;
      const ok = r.overheadUsPerStep <= target;
      lines.push(`${ok ? "MET " : "MISS"} ${workload} N=${fmt.int(n)}${cold ? " cold" : ""} overhead/step ≤ ${target} µs: ${fmt.us(r.overheadUsPerStep)}`);
    }
  }
  const f100k = find("fan_out", 100_000);
  if (f100k) {
    const ok = f100k.maxRssKiB <= 1024 * 1024;
    lines.push(`${ok ? "MET " : "MISS"} fan_out N=100,000 peak RSS ≤ 1 GiB: ${fmt.mib(f100k.maxRssKiB)}`);
  }
  const f1k = find("fan_out", 1_000);
  if (f1k && f100k) {
    const growth = f100k.overheadUsPerStep / f1k.overheadUsPerStep;
    lines.push(
      `${growth <= 1.2 ? "MET " : "MISS"} overhead/step N=100,000 within 1.2× of N=1,000: ${growth.toFixed(2)}× ` +
        `(${fmt.us(f100k.overheadUsPerStep)} vs ${fmt.us(f1k.overheadUsPerStep)})`,
    );
  }
  // Issue 13: the queue with 4 workers on PostgreSQL.
  for (const r of rows.filter((row) => row.workers === 4 && row.store === "postgres")) {
    const ok = r.stepsPerSec >= 2_000;
    lines.push(`${ok ? "MET " : "MISS"} queue fan_out N=${fmt.int(r.n)}, 4 workers, PostgreSQL${r.cold ? " (cold)" : ""} ≥ 2,000 steps/s: ${fmt.int(r.stepsPerSec)}`);
  }
  // local_process: each step run needs a process booted for it, so the machine's cores bound the
  // rate: (step runs × CPU time to boot one process ahead) / cores is the fastest a run can be.
  for (const r of rows.filter((row) => row.orchestrator === "local_process" && row.boot)) {
    const cores = availableParallelism();
    const idealMs = (r.stepRuns * r.boot!.cpuMs) / cores;
    const ratio = r.wallMs / idealMs;
    const name = `${caseName(r)} N=${fmt.int(r.n)}${r.cold ? " cold" : ""}`;
    const perStep = `step processes' CPU ${fmt.ms(r.childrenCpuMs! / r.stepRuns)}/step run`;
    const bound = `boot one ahead ${fmt.ms(r.boot!.cpuMs)} CPU (${fmt.ms(r.boot!.wallMs)} wall), ${fmt.int(r.stepRuns)} × that / ${cores} cores = ${fmt.ms(idealMs)}`;
    if (r.workload === "fan_out" && r.n === 1_000) {
      lines.push(`${ratio <= 2 ? "MET " : "MISS"} ${name} within 2× of (processes booted ahead) / cores: wall ${fmt.ms(r.wallMs)} = ${ratio.toFixed(2)}× (${bound}; ${perStep})`);
    } else {
      lines.push(`INFO ${name}: wall ${fmt.ms(r.wallMs)} = ${ratio.toFixed(2)}× (${bound}; ${perStep})`);
    }
  }
  const processChain = find("chain", 100, false, "sqlite", "local_process");
  if (processChain) {
    const ok = processChain.overheadUsPerStep <= 20_000;
    lines.push(`${ok ? "MET " : "MISS"} chain N=100 on local_process ≤ 20 ms/step: ${fmt.us(processChain.overheadUsPerStep)}`);
  }
  for (const r of rows) {
    const complete = r.recorded.stepRuns === r.stepRuns && r.recorded.completed === r.stepRuns;
    if (r.status !== "completed" || !complete || !r.outputMatchesFloor) {
      lines.push(
        `FAIL ${caseName(r)} N=${r.n}: status ${r.status}, recorded ${JSON.stringify(r.recorded)}, ` +
          `output ${r.outputMatchesFloor ? "matches" : "differs from"} the floor`,
      );
    }
  }
  return lines;
}

/** The file system type of a directory (ext4, tmpfs, …): creating files costs very different amounts. */
function fileSystemOf(dir: string): string | null {
  for (const [command, args] of [
    ["findmnt", ["-n", "-o", "FSTYPE", "-T", dir]],
    ["stat", ["-f", "-c", "%T", dir]],
  ] as const) {
    try {
      return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      // try the next way
    }
  }
  return null;
}

function gitCommit(): string | null {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: here, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: here, encoding: "utf8" }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  let cases = options.quick ? QUICK : FULL;
  if (options.queue || options.only.includes("queue")) cases = [...cases, ...QUEUE];
  if (!options.quick && options.only.length > 0) cases = [...cases, ...LOCAL_PROCESS.filter((c) => c.workload !== "chain")];
  if (options.only.length > 0) {
    // local_process rows take minutes: only "local_process" or their own name selects them.
    const selects = (c: Case) =>
      c.orchestrator === "local_process"
        ? ["local_process", caseName(c)].some((token) => options.only.includes(token))
        : [c.workload, c.store ?? "sqlite", caseName(c), ...(c.workers ? ["queue"] : [])].some((token) => options.only.includes(token));
    cases = cases.filter(selects);
  }
  if (options.sizes.length > 0) {
    // The same workloads, stores and worker counts at other sizes, warm and cold.
    const kinds = [...new Map(cases.map((c) => [caseName(c), c])).values()];
    cases = kinds.flatMap(({ workload, store, workers, orchestrator, cache }) =>
      options.sizes.flatMap((n): Case[] =>
        workers
          ? [{ workload, n, workers, store }, { workload, n, workers, store, cold: true }]
          : [{ workload, n, store, orchestrator, cache }, { workload, n, store, orchestrator, cache, cold: true }],
      ),
    );
  }
  if (options.cold) cases = cases.filter((c) => c.cold);
  if (cases.length === 0) throw new Error("no workload selected");

  const started = new Date();
  const homesIn = options.tmpdir || tmpdir();
  const fileSystem = fileSystemOf(homesIn)?.split("\n")[0] ?? null;
  process.stderr.write(`WEIR_HOME of each workload: a fresh folder in ${homesIn} (${fileSystem ?? "unknown file system"})\n`);
  const rows: BenchRow[] = [];
  for (const c of cases) {
    process.stderr.write(`running ${caseName(c)}${c.cold ? " (cold)" : ""} N=${c.n.toLocaleString("en-US")} … `);
    const results: ChildResult[] = [];
    for (let i = 0; i < options.repeat; i++) {
      const result = await runChild(c, options.profile, options.tmpdir);
      results.push(result);
      process.stderr.write(`${i > 0 ? ", " : ""}${fmt.ms(result.wallMs)}`);
    }
    const row = { ...toRow(results), workers: c.workers };
    rows.push(row);
    process.stderr.write(` → ${fmt.us(row.overheadUsPerStep)}/step\n`);
  }

  console.log(renderTable(rows));
  const targets = checkTargets(rows);
  if (targets.length > 0) console.log(targets.join("\n"));

  const report = {
    date: started.toISOString(),
    quick: options.quick,
    repeat: options.repeat,
    label: options.label || null,
    commit: gitCommit(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: `${availableParallelism()} × ${cpus()[0]?.model ?? "unknown"}`,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    homesIn,
    fileSystem,
    rows,
    targets,
  };
  mkdirSync(resultsDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:]/g, "-").replace(/\..*$/, "");
  const suffix = `${options.quick ? "-quick" : ""}${options.label ? `-${options.label}` : ""}`;
  const files = [join(resultsDir, `${stamp}${suffix}.json`)];
  // latest.json / latest-quick.json hold the standard suite only (not a selection, other
  // sizes, another file system or a profiled run).
  const standard =
    options.only.length === 0 && options.sizes.length === 0 && !options.tmpdir && !options.profile && !options.cold && !options.queue;
  if (standard) files.unshift(join(resultsDir, `latest${options.quick ? "-quick" : ""}.json`));
  for (const file of files) writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  console.log(`results: ${files.map((f) => relative(process.cwd(), f)).join(", ")}`);
  if (options.profile) console.log(`profiles: ${relative(process.cwd(), profilesDir)} (summarize: node --import tsx bench/profile-summary.ts FILE)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
