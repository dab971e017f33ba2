import { Option, type Command } from "commander";
import { PipelineParameterError } from "../../authoring/errors.js";
import { validateParameters } from "../../authoring/params.js";
import type { PipelineRun } from "../../client/run-view.js";
import { timeOrderedId } from "../../ids.js";
import { CliError, exitWhenCommandEnds, printRunResult } from "../output.js";
import { interruptRunOnSigint } from "../interrupt.js";
import { showProgress } from "../progress.js";
import { importPipelines, pickPipeline, type AnyPipeline } from "../resolve.js";

interface RunFlags {
  pipeline?: string;
  param: string[];
  stack?: string;
  cache: boolean;
  runName?: string;
  schedule?: string;
  scheduledFor?: string;
  detach?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run a pipeline exported by FILE (.ts files work directly); prints the run id first, Ctrl-C interrupts it resumably")
    .argument("<file>", "module that exports the pipeline")
    .option("--pipeline <name>", "which pipeline, when FILE exports several")
    .option(
      "--param <key=value>",
      "pipeline parameter; the value is JSON when it parses, else a string; checked against the pipeline's params schema (repeatable)",
      collect,
      [],
    )
    .option("--stack <name>", "registered stack to run on (default: the active stack)")
    .option("--no-cache", "run every step, reusing nothing from earlier runs")
    .option("--run-name <name>", "name of the run")
    // Set by `weir scheduler` when it starts the run of a tick: recorded on the run.
    .addOption(new Option("--schedule <name>").hideHelp())
    .addOption(new Option("--scheduled-for <ms>").hideHelp())
    .option("--detach", "return once the run is submitted, when it runs elsewhere (queue orchestrator with orchestrateIn: worker)")
    .action(async (file: string, flags: RunFlags) => {
      exitWhenCommandEnds();
      // Read by orchestrators whose runs go on elsewhere: they then do not follow the run.
      if (flags.detach) process.env.WEIR_DETACH = "1";
      const pipeline = pickPipeline(file, await importPipelines(file), flags.pipeline);
      const params = await parametersFor(pipeline, flags.param);
      const runId = timeOrderedId();
      console.log(`run: ${runId}`);
      const schedule = flags.schedule ? { name: flags.schedule, plannedFor: Number(flags.scheduledFor ?? Date.now()) } : undefined;
      const run = await driveRun(runId, () =>
        pipeline.run(params, { stack: flags.stack, enableCache: flags.cache, runName: flags.runName, runId, schedule }),
      );
      await printRunResult(run, { idPrinted: true });
      const goesOn = flags.detach && (run.status === "initializing" || run.status === "running");
      if (run.status !== "completed" && !goesOn) process.exitCode = 1;
    });
}

/**
 * Runs `work` (which drives run `runId` in this process): a progress line meanwhile when
 * stdout is a terminal, and on Ctrl-C the run is marked interrupted (see interrupt.ts).
 */
export async function driveRun(runId: string, work: () => Promise<PipelineRun>): Promise<PipelineRun> {
  const stop = showProgress(runId);
  const release = interruptRunOnSigint(runId, stop);
  try {
    return await work();
  } finally {
    release();
    stop();
  }
}

/** Runs a pipeline as `weir demo` does: with a progress line, Ctrl-C marking the run interrupted. */
export function runWithProgress(
  pipeline: AnyPipeline,
  params: Record<string, unknown>,
  options: { stack?: string; enableCache?: boolean; runName?: string },
): Promise<PipelineRun> {
  const runId = timeOrderedId();
  return driveRun(runId, () => pipeline.run(params, { ...options, runId }));
}

/** `--param k=v` flags as pipeline parameters: JSON values when they parse (`n=3`, `flag=true`), else strings. */
export function parseParams(flags: string[]): Record<string, unknown> {
  return Object.fromEntries(splitParams(flags).map(([key, text]) => [key, parseValue(text)]));
}

/**
 * The parameters for a pipeline from `--param` flags. With a params schema, a value the
 * schema wants as a string stays the text typed (`--param tag=007` is "007", not 7);
 * whatever still does not fit is reported by the schema check, naming the parameter.
 */
export async function parametersFor(pipeline: AnyPipeline, flags: string[]): Promise<Record<string, unknown>> {
  const pairs = splitParams(flags);
  const params = Object.fromEntries(pairs.map(([key, text]) => [key, parseValue(text)]));
  const schema = pipeline.definition.options.params;
  if (!schema) return params;
  const typed = new Map(pairs);
  for (;;) {
    try {
      await validateParameters(pipeline.pipelineName, schema, params);
      return params;
    } catch (error) {
      const key = error instanceof PipelineParameterError && error.problem === "invalid" ? error.parameter : undefined;
      // Try the value as typed, once per parameter; otherwise the error stands.
      if (key === undefined || !typed.has(key) || params[key] === typed.get(key)) throw error;
      params[key] = typed.get(key);
    }
  }
}

function splitParams(flags: string[]): [string, string][] {
  return flags.map((flag) => {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new CliError(`--param "${flag}" must look like key=value`);
    return [flag.slice(0, eq), flag.slice(eq + 1)];
  });
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
