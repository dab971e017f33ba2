import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "../../client/client.js";
import type { PipelineRun } from "../../client/run-view.js";
import type { LogLine } from "../../stores/metadata/types.js";
import { formatTime } from "../output.js";
import { resolveRunId } from "../resolve.js";

const FOLLOW_POLL_MS = 250;

export function registerLogsCommand(program: Command): void {
  program
    .command("logs")
    .description("stored log lines of a run, or of one of its step runs")
    .argument("<run>", "run id, unique id prefix, or run name")
    .argument("[step]", "invocation id of a step run (e.g. process_file[a_txt])")
    .option("-f, --follow", "keep printing new lines until the run has ended")
    .action(async (ref: string, stepName: string | undefined, flags: { follow?: boolean }) => {
      const client = new Client();
      const runId = await resolveRunId(ref);
      let afterId: number | undefined;
      while (true) {
        // Read the run's state before its lines, so the last read after it ended misses nothing.
        const run = await client.getRun(runId);
        const lines = await client.getLogs(runId, stepName, afterId);
        for (const line of lines) console.log(formatLine(line, run));
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
  const step = line.stepRunId ? (run.steps.find((s) => s.id === line.stepRunId)?.name ?? line.stepRunId) : "(run)";
  return `${time}  ${step}  ${line.stream}  ${line.message}`;
}
