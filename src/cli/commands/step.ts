import type { Command } from "commander";
import { parseStepArguments, stepProcessMain } from "../../entrypoints/step.js";

export function registerStepCommand(program: Command): void {
  program
    .command("step")
    .description("(internal) run one attempt of a step run from the metadata store; used by launchers")
    .argument("<stepRunId>", "step run id")
    .requiredOption("--attempt <n>", "the attempt to run (the one the step run's task is recorded for)")
    .addHelpText(
      "after",
      "\nWithout an IPC channel, the attempt reports on stdout as lines `@weir:attempt {json}` (started, item, log,\n" +
        "result, error) among the step's own output; exit code 0 means it succeeded. It writes artifacts only:\n" +
        "the engine that launched it records the step run. Code is found relative to WEIR_PROJECT_ROOT (default: cwd).",
    )
    .action(async (stepRunId: string, flags: { attempt: string }) => {
      const { attempt } = parseStepArguments([stepRunId, "--attempt", flags.attempt]);
      // Ends the process (a step may leave timers or sockets open).
      await stepProcessMain(stepRunId, attempt);
    });
}
