import type { Command } from "commander";
import { Client } from "../../client/client.js";
import { orchestrateEntrypoint } from "../../entrypoints/orchestrate.js";
import { printRunResult } from "../output.js";
import { resolveRunId } from "../resolve.js";

export function registerOrchestrateCommand(program: Command): void {
  program
    .command("orchestrate")
    .description("(internal) run a stored run's orchestration in this process; used by orchestrators")
    .argument("<run>", "run id")
    .action(async (ref: string) => {
      const runId = await resolveRunId(ref);
      await orchestrateEntrypoint(runId);
      const run = await new Client().getRun(runId);
      await printRunResult(run);
      // The exit code is how the launching orchestrator learns the outcome.
      if (run.status !== "completed") process.exitCode = 1;
    });
}
