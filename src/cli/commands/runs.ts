import { InvalidArgumentError, type Command } from "commander";
import { Client } from "../../client/client.js";
import type { PipelineRun, StepRunView } from "../../client/run-view.js";
import { resumeRun } from "../../api/run.js";
import type { RunStatus } from "../../stores/metadata/types.js";
import {
  details,
  exitWhenCommandEnds,
  formatTime,
  formatValue,
  oneLine,
  printJson,
  printRunResult,
  runStatus,
  shortId,
  span,
  table,
  withJsonOption,
} from "../output.js";
import { resolveRunId, RUN_REFERENCE } from "../resolve.js";
import { refuseThroughServer } from "../remote.js";
import { registerCancelAndDeleteCommands } from "./runs-stop.js";
import { driveRun } from "./run.js";

const RUN_STATUSES: RunStatus[] = ["initializing", "running", "completed", "failed"];

export function registerRunsCommands(program: Command): void {
  const runs = program.command("runs").description("inspect, compare and resume pipeline runs");

  withJsonOption(runs.command("list"))
    .description("list runs, newest first (the id column is the end of each id, which commands accept)")
    .option("--pipeline <name>", "only runs of this pipeline")
    .option("--status <status>", `only runs in this status (${RUN_STATUSES.join(", ")})`, parseStatus)
    .option("--schedule <name>", "only runs started by this schedule")
    .option("--limit <n>", "at most this many runs", positiveInteger, 20)
    .action(async (flags: { pipeline?: string; status?: RunStatus; schedule?: string; limit: number; json?: boolean }) => {
      // Counts, not step runs: listing runs of 100,000 steps reads no step run.
      const list = await new Client().listRunSummaries({ pipelineName: flags.pipeline, status: flags.status, scheduleName: flags.schedule, limit: flags.limit });
      if (flags.json) return printJson(list);
      if (list.length === 0) {
        console.log("no runs yet");
        return;
      }
      console.log(
        table(
          ["id", "name", "pipeline", "status", "dynamic", "steps", "started", "duration"],
          list.map((r) => [
            shortId(r.id),
            r.name,
            r.pipelineName,
            runStatus(r),
            r.isDynamic ? "yes" : "no",
            r.stepCount,
            formatTime(r.startedAt ?? r.createdAt),
            span(r.startedAt, r.endedAt),
          ]),
        ),
      );
    });

  withJsonOption(runs.command("show"))
    .description("a run's details, parameters and step runs")
    .argument("<run>", RUN_REFERENCE)
    .action(async (ref: string, flags: { json?: boolean }) => {
      const run = await new Client().getRun(await resolveRunId(ref));
      if (flags.json) {
        return printJson({ ...run, output: run.status === "completed" ? await run.output() : null });
      }
      console.log(
        details([
          ["run", run.id],
          ["name", run.name],
          ["pipeline", run.pipelineName],
          ["status", runStatus(run)],
          ["dynamic", run.isDynamic ? "yes" : "no"],
          ["stack", run.stackName],
          ["created", formatTime(run.createdAt)],
          ["started", formatTime(run.startedAt)],
          ["ended", formatTime(run.endedAt)],
          ["duration", span(run.startedAt, run.endedAt)],
          ["fingerprint", run.fingerprint],
          ["error", run.error ?? undefined],
          ["parameters", Object.keys(run.parameters).length > 0 ? oneLine(run.parameters, 1000) : "(none)"],
        ]),
      );
      if (run.steps.length > 0) {
        console.log(
          table(
            ["name", "step", "status", "attempts", "mapping key", "started", "duration", "error"],
            run.steps.map((s) => [
              s.name,
              s.stepName,
              s.status,
              s.attempts,
              s.mappingKey ?? "",
              formatTime(s.startedAt),
              span(s.startedAt, s.endedAt),
              (s.error ?? "").slice(0, 80),
            ]),
          ),
        );
        // Recorded by a launcher that holds the step (queue: no live worker can give its resources).
        for (const s of run.steps) {
          const waiting = s.metadata.waiting as { reason: string; since: number } | undefined;
          if (waiting) console.log(`${s.name}: ${waiting.reason} (since ${formatTime(new Date(waiting.since))})`);
        }
      }
      if (run.status === "completed") console.log(`output:\n${formatValue(await run.output())}`);
    });

  withJsonOption(runs.command("graph"))
    .description("the executed graph of a run as text")
    .argument("<run>", RUN_REFERENCE)
    .action(async (ref: string, flags: { json?: boolean }) => {
      const run = await new Client().getRun(await resolveRunId(ref));
      if (flags.json) {
        const nodes = run.steps.map((s) => ({ name: s.name, stepName: s.stepName, status: s.status, mappingKey: s.mappingKey, upstream: s.upstream }));
        return printJson({ runId: run.id, pipelineName: run.pipelineName, status: run.status, nodes });
      }
      console.log(`${run.pipelineName} · run ${run.id} · ${runStatus(run)}`);
      for (const s of run.steps) {
        // Mapped step runs are indented one level per mapping key (`a.b` is nested twice).
        const depth = s.mappingKey ? s.mappingKey.split(".").length : 0;
        const from = s.upstream.length > 0 ? ` <- ${s.upstream.join(", ")}` : "";
        console.log(`${"  ".repeat(depth + 1)}${s.name} [${s.status}]${from}`);
      }
    });

  runs
    .command("resume")
    .description("continue a failed or interrupted run in place (completed step runs are not run again)")
    .argument("<run>", RUN_REFERENCE)
    .option("--stack <name>", "stack to resume on (default: the run's own stack)")
    .action(async (ref: string, flags: { stack?: string }) => {
      refuseThroughServer("runs resume");
      exitWhenCommandEnds();
      const runId = await resolveRunId(ref);
      const run = await driveRun(runId, () => resumeRun(runId, { stack: flags.stack }));
      await printRunResult(run);
      if (run.status !== "completed") process.exitCode = 1;
    });

  runs
    .command("diff")
    .description("compare the executed graphs of two runs")
    .argument("<a>", `first run (${RUN_REFERENCE})`)
    .argument("<b>", "second run")
    .action(async (refA: string, refB: string) => {
      const client = new Client();
      const a = await client.getRun(await resolveRunId(refA));
      const b = await client.getRun(await resolveRunId(refB));
      console.log(graphDiff(a, b));
    });

  registerCancelAndDeleteCommands(runs);
}

/** Which step invocations only one run has, and which have different upstream in the two. */
export function graphDiff(a: PipelineRun, b: PipelineRun): string {
  const upstreamOf = (steps: StepRunView[]) => new Map(steps.map((s) => [s.name, [...s.upstream].sort().join(", ")]));
  const inA = upstreamOf(a.steps);
  const inB = upstreamOf(b.steps);
  const onlyA = [...inA.keys()].filter((name) => !inB.has(name));
  const onlyB = [...inB.keys()].filter((name) => !inA.has(name));
  const changed = [...inA.keys()].filter((name) => inB.has(name) && inA.get(name) !== inB.get(name));
  const title = `A ${a.id} (${a.pipelineName})\nB ${b.id} (${b.pipelineName})`;
  const sameFingerprint = a.fingerprint !== null && a.fingerprint === b.fingerprint;
  if (sameFingerprint || onlyA.length + onlyB.length + changed.length === 0) {
    return `${title}\nsame graph (${inA.size} step runs)`;
  }
  const lines = [title];
  if (onlyA.length > 0) lines.push("only in A:", ...onlyA.map((name) => `  - ${name}`));
  if (onlyB.length > 0) lines.push("only in B:", ...onlyB.map((name) => `  + ${name}`));
  if (changed.length > 0) {
    lines.push("different upstream:");
    for (const name of changed) lines.push(`  ~ ${name}: A <- [${inA.get(name)}]  B <- [${inB.get(name)}]`);
  }
  return lines.join("\n");
}

function parseStatus(value: string): RunStatus {
  if (!RUN_STATUSES.includes(value as RunStatus)) {
    throw new InvalidArgumentError(`must be one of ${RUN_STATUSES.join(", ")}`);
  }
  return value as RunStatus;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive integer");
  return n;
}
