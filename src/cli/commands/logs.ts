import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "../../client/client.js";
import type { PipelineRun } from "../../client/run-view.js";
import type { LogLine } from "../../stores/metadata/types.js";
import { formatTime, printJson, withJsonOption } from "../output.js";
import { resolveRunId, RUN_REFERENCE } from "../resolve.js";

const FOLLOW_POLL_MS = 250;

export function registerLogsCommand(program: Command): void {
  withJsonOption(program.command("logs"))
    .description("stored log lines of a run, or of one of its step runs (--json: one JSON object per line)")
    .argument("<run>", RUN_REFERENCE)
    .argument("[step]", "invocation id of a step run (e.g. process_file[a_txt])")
    .option("-f, --follow", "keep printing new lines until the run has ended")
    .action(async (ref: string, stepName: string | undefined, flags: { follow?: boolean; json?: boolean }) => {
      const client = new Client();
      const runId = await resolveRunId(ref);
      let afterId: number | undefined;
      while (true) {
        // Read the run's state before its lines, so the last read after it ended misses nothing.
        const run = await client.getRun(runId);
        const lines = await client.getLogs(runId, stepName, afterId);
        for (const line of lines) {
          if (flags.json) printJson({ ...line, step: stepOf(line, run), at: new Date(line.at) }, { lines: true });
          else console.log(formatLine(line, run));
        }
        afterId = lines.at(-1)?.id ?? afterId;
        const goingOn = (run.status === "running" || run.status === "initializing") && run.alive;
        if (!flags.follow || !goingOn) return;
        await sleep(FOLLOW_POLL_MS);
      }
    });
}

function formatLine(line: LogLine, run: PipelineRun): string {
  const at = new Date(line.at);
  const time = `${formatTime(at).slice(11)}.${String(at.getMilliseconds()).padStart(3, "0")}`;
  return `${time}  ${stepOf(line, run) ?? "(run)"}  ${line.stream}  ${line.message}`;
}

/** The invocation id of the step run a line came from; null for the run's own lines. */
function stepOf(line: LogLine, run: PipelineRun): string | null {
  return line.stepRunId ? (run.steps.find((s) => s.id === line.stepRunId)?.name ?? line.stepRunId) : null;
}
