/**
 * What booting one step process ahead costs, part by part: whole-process CPU time (user +
 * system, all threads, from the kernel's accounting of waited-for children) of processes
 * forked as the local_process launcher forks them, each killed once it reports ready.
 * Variants are run in turn (A B C D A B C D …) so that a machine whose speed drifts moves
 * them alike; the median of each is printed.
 *
 *   npm run build && node --import tsx bench/boot-breakdown.ts [--runs 15]
 *
 *   node        a bare Node child that reports ready over IPC (Node's own start)
 *   weir        step.js --warm for a JavaScript module: + weir's step entry and package, the store
 *   precompiled + the hooks of precompiled TypeScript (bench/workloads.ts), as the launcher now forks it
 *   tsx         + tsx and weir's TypeScript hooks instead, as it forked it before (and still does for .cts)
 */
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STEP_ENTRYPOINT, precompiledImport, tsxImport, warmForkArguments } from "../dist/orchestrators/local-process/process-launcher.js";
import { Precompiler } from "../dist/orchestrators/local-process/precompile.js";

// As bench/run.ts runs the benchmarks: "weir" is the built package, not the source tree.
process.env.TSX_TSCONFIG_PATH ??= join(import.meta.dirname, "tsconfig.json");
const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag >= 0 ? Number(process.argv[runsFlag + 1]) : 15;

/** CPU time of this process's waited-for children (Linux: /proc/self/stat cutime + cstime), ms. */
function childrenCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** Forks `module` with `args` and `execArgv`, waits for its `ready`, kills it; its CPU ms. */
async function bootOnce(module: string, args: string[], execArgv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const before = childrenCpuMs();
  const child = fork(module, args, { execArgv, env, stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "advanced" });
  await new Promise<void>((resolve, reject) => {
    child.on("message", (message: { type?: string }) => message.type === "ready" && resolve());
    child.once("exit", (code) => reject(new Error(`${module} exited with ${code} before it was ready`)));
  });
  await new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.once("exit", resolve);
    child.kill("SIGKILL");
  });
  return childrenCpuMs() - before;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "weir-boot-breakdown-"));
  const bare = join(dir, "bare.mjs");
  writeFileSync(bare, 'process.send({ type: "ready" });\n');
  const env = { ...process.env, WEIR_HOME: dir };
  const precompiler = new Precompiler();
  const manifest = await precompiler.prepare(join(import.meta.dirname, "workloads.ts"));
  if (!manifest) throw new Error("bench/workloads.ts could not be precompiled");
  const warm = (hooks?: string) => {
    const { execArgv, args } = warmForkArguments(hooks ? ["--import", hooks] : []);
    return () => bootOnce(STEP_ENTRYPOINT, ["--warm", ...args], execArgv, env);
  };
  const variants: [string, () => Promise<number>][] = [
    ["node", () => bootOnce(bare, [], [], env)],
    ["weir", warm()],
    ["precompiled", warm(precompiledImport(manifest))],
    ["tsx", warm(tsxImport())],
  ];
  const cpu = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  // One warm-up round (page cache, tsx's transform cache), not counted.
  for (const [, boot] of variants) await boot();
  for (let i = 0; i < runs; i++) for (const [name, boot] of variants) cpu.get(name)!.push(await boot());
  precompiler.close();
  rmSync(dir, { recursive: true, force: true });

  // The kernel counts in 10 ms ticks: the mean of many runs is finer than any one run.
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`CPU per process forked ahead (fork → ready → SIGKILL), ${runs} runs each:`);
  console.log(`${"".padEnd(12)} ${"mean".padStart(7)} ${"median".padStart(7)}   step (mean)`);
  let previous = 0;
  for (const [name] of variants) {
    const ms = mean(cpu.get(name)!);
    const step = previous ? `${ms - previous >= 0 ? "+" : ""}${(ms - previous).toFixed(0)} ms` : "";
    console.log(`${name.padEnd(12)} ${ms.toFixed(0).padStart(7)} ${String(median(cpu.get(name)!)).padStart(7)}   ${step}`);
    if (name !== "tsx") previous = ms;
  }
}

await main();
