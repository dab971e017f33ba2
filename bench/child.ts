/**
 * One workload at one size, in its own process (forked by bench/run.ts), so that peak RSS
 * belongs to this workload alone. Prints nothing on success; sends one result message.
 *
 *   node --import tsx bench/child.ts <workload> <n> [--no-warmup] [--cold]
 *
 * `--cold` measures what a user's `weir run` is: one run in a fresh process, the store
 * created by it, nothing warmed (no warm-up run; the floor runs after the measured run).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";
import { workloads } from "./workloads.js";

export interface ChildResult {
  workload: string;
  n: number;
  stepRuns: number;
  /** Wall time of `pipeline.run(params, { enableCache: false })`, ms. */
  wallMs: number;
  /** Wall time of the same functions called directly (best of three), ms. */
  floorMs: number;
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
}

async function main(): Promise<void> {
  const [name, nText, ...flags] = process.argv.slice(2);
  const workload = workloads[name];
  if (!workload) throw new Error(`unknown workload ${name} (known: ${Object.keys(workloads).join(", ")})`);
  const n = Number(nText);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad size ${nText}`);
  const keep = flags.includes("--keep");
  const cold = flags.includes("--cold");

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

  // A small warm-up run in its own home: loads weir's modules, opens SQLite, warms the JIT.
  const warmupN = cold || flags.includes("--no-warmup") ? 0 : Math.max(2, Math.min(200, Math.floor(n / 10)));
  const homes: string[] = [];
  if (warmupN > 0) {
    const home = mkdtempSync(join(tmpdir(), "weir-bench-warmup-"));
    homes.push(home);
    process.env.WEIR_HOME = home;
    const warm = await workload.pipeline.run({ n: warmupN }, { enableCache: false });
    if (warm.status !== "completed") throw new Error(`warm-up run failed: ${warm.error}`);
  }

  const home = mkdtempSync(join(tmpdir(), `weir-bench-${name}-`));
  homes.push(home);
  process.env.WEIR_HOME = home;
  const start = performance.now();
  const run = await workload.pipeline.run({ n }, { enableCache: false });
  const sinceProcessStartMs = performance.now();
  const wallMs = sinceProcessStartMs - start;
  const maxRssKiB = process.resourceUsage().maxRSS;
  if (cold) await floor();

  const output = run.status === "completed" ? await run.output() : undefined;
  const db = new Database(join(home, "weir.db"), { readonly: true });
  const count = (sql: string) => (db.prepare(sql).pluck().get(run.id) as number) ?? 0;
  const recorded = {
    stepRuns: count(`SELECT COUNT(*) FROM step_runs WHERE run_id = ?`),
    completed: count(`SELECT COUNT(*) FROM step_runs WHERE run_id = ? AND status = 'completed'`),
    artifactVersions: count(
      `SELECT COUNT(DISTINCT o.artifact_version_id) FROM step_run_outputs o JOIN step_runs s ON s.id = o.step_run_id
       WHERE s.run_id = ?`,
    ),
    outputLinks: count(
      `SELECT COUNT(*) FROM step_run_outputs o JOIN step_runs s ON s.id = o.step_run_id WHERE s.run_id = ?`,
    ),
  };
  db.close();
  if (!keep) for (const dir of homes) rmSync(dir, { recursive: true, force: true });

  const result: ChildResult = {
    workload: name,
    n,
    stepRuns: workload.stepRuns(n),
    wallMs,
    floorMs,
    maxRssKiB,
    recorded,
    status: run.status,
    outputMatchesFloor: isDeepStrictEqual(output ?? null, floorOutput ?? null),
    warmupN,
    cold,
    sinceProcessStartMs,
  };
  if (process.send) await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  else console.log(JSON.stringify(result));
}

main().then(
  // Exit explicitly: the metadata store stays open (one per home per process).
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
