/**
 * The weir benchmark suite: orchestration overhead on the default stack (SQLite metadata
 * store + local artifact files), every step run and artifact recorded, caching off.
 *
 *   npm run bench                      full suite (several minutes)
 *   npm run bench -- --quick           small sizes, under a minute
 *   npm run bench -- --only fan_out    one workload (all its sizes)
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
import type { ChildResult } from "./child.js";

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, "results");
const profilesDir = join(resultsDir, "profiles");

interface Case {
  workload: string;
  n: number;
  /** One run in a fresh process, nothing warmed: what a user's `weir run` pays. */
  cold?: boolean;
}

const FULL: Case[] = [
  { workload: "fan_out", n: 1_000 },
  { workload: "fan_out", n: 1_000, cold: true },
  { workload: "fan_out", n: 10_000 },
  { workload: "fan_out", n: 10_000, cold: true },
  { workload: "fan_out", n: 100_000 },
  { workload: "chain", n: 1_000 },
  { workload: "wide", n: 10_000 },
  { workload: "map_collect", n: 10_000 },
];

const QUICK: Case[] = [
  { workload: "fan_out", n: 1_000 },
  { workload: "fan_out", n: 1_000, cold: true },
  { workload: "fan_out", n: 5_000 },
  { workload: "chain", n: 200 },
  { workload: "wide", n: 2_000 },
  { workload: "map_collect", n: 2_000 },
];

export interface BenchRow extends ChildResult {
  stepsPerSec: number;
  overheadUsPerStep: number;
  ratio: number;
  /** Every repetition (the row shows the one with the median wall time). */
  repeats: { wallMs: number; floorMs: number; maxRssKiB: number }[];
}

function parseArgs(argv: string[]) {
  const options = {
    quick: false,
    profile: false,
    cold: false,
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
    else if (arg.startsWith("--only")) options.only.push(...value().split(","));
    else if (arg.startsWith("--label")) options.label = value();
    else if (arg.startsWith("--sizes")) options.sizes = value().split(",").map(Number);
    else if (arg.startsWith("--tmpdir")) options.tmpdir = value();
    else if (arg.startsWith("--repeat")) options.repeat = Math.max(1, Number(value()));
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

function runChild(c: Case, profile: boolean, tmpDir: string): Promise<ChildResult> {
  const execArgv = ["--import", "tsx"];
  if (profile) {
    // One folder per case: V8 writes one profile per thread (the main thread's is the biggest;
    // tsx's module-loader thread writes one too).
    const dir = join(profilesDir, `${c.workload}-${c.n}${c.cold ? "-cold" : ""}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: join(here, "tsconfig.json") };
    if (tmpDir) env.TMPDIR = tmpDir;
    const args = [c.workload, String(c.n), ...(c.cold ? ["--cold"] : [])];
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

function toRow(results: ChildResult[]): BenchRow {
  const sorted = [...results].sort((a, b) => a.wallMs - b.wallMs);
  const r = sorted[Math.floor((sorted.length - 1) / 2)];
  return {
    ...r,
    stepsPerSec: r.stepRuns / (r.wallMs / 1000),
    overheadUsPerStep: ((r.wallMs - r.floorMs) * 1000) / r.stepRuns,
    ratio: r.wallMs / r.floorMs,
    repeats: results.map(({ wallMs, floorMs, maxRssKiB }) => ({ wallMs, floorMs, maxRssKiB })),
  };
}

const fmt = {
  int: (x: number) => Math.round(x).toLocaleString("en-US"),
  ms: (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`),
  floor: (x: number) => (x >= 1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(0)} µs`),
  us: (x: number) => `${x.toFixed(1)} µs`,
  ratio: (x: number) => `${x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1)}×`,
  mib: (kib: number) => `${(kib / 1024).toFixed(0)} MiB`,
};

export function renderTable(rows: BenchRow[]): string {
  const table = new Table({
    head: ["workload", "N", "step runs", "wall", "floor", "steps/s", "overhead/step", "weir/floor", "peak RSS"],
    colAligns: ["left", "right", "right", "right", "right", "right", "right", "right", "right"],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.cold ? `${r.workload} (cold)` : r.workload,
      fmt.int(r.n),
      fmt.int(r.stepRuns),
      fmt.ms(r.wallMs),
      fmt.floor(r.floorMs),
      fmt.int(r.stepsPerSec),
      fmt.us(r.overheadUsPerStep),
      fmt.ratio(r.ratio),
      fmt.mib(r.maxRssKiB),
    ]);
  }
  return table.toString();
}

/** The issue's targets, checked on whatever rows this run has. */
export function checkTargets(rows: BenchRow[]): string[] {
  const find = (w: string, n: number, cold = false) => rows.find((r) => r.workload === w && r.n === n && !!r.cold === cold);
  const lines: string[] = [];
  const f10k = find("fan_out", 10_000);
  if (f10k) {
    const ok = f10k.overheadUsPerStep <= 100;
    lines.push(`${ok ? "MET " : "MISS"} fan_out N=10,000 overhead/step ≤ 100 µs: ${fmt.us(f10k.overheadUsPerStep)}`);
  }
  const cold10k = find("fan_out", 10_000, true);
  if (cold10k) {
    const ok = cold10k.overheadUsPerStep <= 100;
    lines.push(`${ok ? "MET " : "MISS"} fan_out N=10,000 cold (one run, fresh process) overhead/step ≤ 100 µs: ${fmt.us(cold10k.overheadUsPerStep)}`);
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
      `${growth <= 1.5 ? "MET " : "MISS"} overhead/step N=100,000 within 1.5× of N=1,000: ${growth.toFixed(2)}× ` +
        `(${fmt.us(f100k.overheadUsPerStep)} vs ${fmt.us(f1k.overheadUsPerStep)})`,
    );
  }
  for (const r of rows) {
    const complete = r.recorded.stepRuns === r.stepRuns && r.recorded.completed === r.stepRuns;
    if (r.status !== "completed" || !complete || !r.outputMatchesFloor) {
      lines.push(
        `FAIL ${r.workload} N=${r.n}: status ${r.status}, recorded ${JSON.stringify(r.recorded)}, ` +
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
  if (options.only.length > 0) cases = cases.filter((c) => options.only.includes(c.workload));
  if (options.sizes.length > 0) {
    const names = [...new Set(cases.map((c) => c.workload))];
    cases = names.flatMap((workload) => options.sizes.flatMap((n) => [{ workload, n }, { workload, n, cold: true }]));
  }
  if (options.cold) cases = cases.filter((c) => c.cold);
  if (cases.length === 0) throw new Error("no workload selected");

  const started = new Date();
  const homesIn = options.tmpdir || tmpdir();
  const fileSystem = fileSystemOf(homesIn)?.split("\n")[0] ?? null;
  process.stderr.write(`WEIR_HOME of each workload: a fresh folder in ${homesIn} (${fileSystem ?? "unknown file system"})\n`);
  const rows: BenchRow[] = [];
  for (const c of cases) {
    process.stderr.write(`running ${c.workload}${c.cold ? " (cold)" : ""} N=${c.n.toLocaleString("en-US")} … `);
    const results: ChildResult[] = [];
    for (let i = 0; i < options.repeat; i++) {
      const result = await runChild(c, options.profile, options.tmpdir);
      results.push(result);
      process.stderr.write(`${i > 0 ? ", " : ""}${fmt.ms(result.wallMs)}`);
    }
    const row = toRow(results);
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
    options.only.length === 0 && options.sizes.length === 0 && !options.tmpdir && !options.profile && !options.cold;
  if (standard) files.unshift(join(resultsDir, `latest${options.quick ? "-quick" : ""}.json`));
  for (const file of files) writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  console.log(`results: ${files.map((f) => relative(process.cwd(), f)).join(", ")}`);
  if (options.profile) console.log(`profiles: ${relative(process.cwd(), profilesDir)} (summarize: node --import tsx bench/profile-summary.ts FILE)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
