import type { Command } from "commander";
import type { PipelineRun } from "../../client/run-view.js";
import { CliError, printRunResult } from "../output.js";
import { showProgress } from "../progress.js";
import { importPipelines, pickPipeline, type AnyPipeline } from "../resolve.js";

interface RunFlags {
  pipeline?: string;
  param: string[];
  stack?: string;
  cache: boolean;
  runName?: string;
  detach?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run a pipeline exported by FILE (.ts files work directly)")
    .argument("<file>", "module that exports the pipeline")
    .option("--pipeline <name>", "which pipeline, when FILE exports several")
    .option("--param <key=value>", "pipeline parameter; the value is JSON when it parses, else a string (repeatable)", collect, [])
    .option("--stack <name>", "registered stack to run on (default: the active stack)")
    .option("--no-cache", "run every step, reusing nothing from earlier runs")
    .option("--run-name <name>", "name of the run")
    .option("--detach", "return once the run is submitted, when it runs elsewhere (queue orchestrator with orchestrateIn: worker)")
    .action(async (file: string, flags: RunFlags) => {
      // Read by orchestrators whose runs go on elsewhere: they then do not follow the run.
      if (flags.detach) process.env.WEIR_DETACH = "1";
      const params = parseParams(flags.param);
      const pipeline = pickPipeline(file, await importPipelines(file), flags.pipeline);
      const run = await runWithProgress(pipeline, params, { stack: flags.stack, enableCache: flags.cache, runName: flags.runName });
      await printRunResult(run);
      const goesOn = flags.detach && (run.status === "initializing" || run.status === "running");
      if (run.status !== "completed" && !goesOn) process.exitCode = 1;
    });
}

/** Runs a pipeline, showing a progress line meanwhile when stdout is a terminal. */
export async function runWithProgress(
  pipeline: AnyPipeline,
  params: Record<string, unknown>,
  options: { stack?: string; enableCache?: boolean; runName?: string },
): Promise<PipelineRun> {
  const stop = showProgress(pipeline.pipelineName, Date.now());
  try {
    return await pipeline.run(params, options);
  } finally {
    stop();
  }
}

/** `--param k=v` flags as pipeline parameters: JSON values when they parse (`n=3`, `flag=true`), else strings. */
export function parseParams(flags: string[]): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new CliError(`--param "${flag}" must look like key=value`);
    const key = flag.slice(0, eq);
    const text = flag.slice(eq + 1);
    try {
      params[key] = JSON.parse(text);
    } catch {
      params[key] = text;
    }
  }
  return params;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
