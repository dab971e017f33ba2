import { Command } from "commander";
import { readFileSync } from "node:fs";
import { closeMetadataStores } from "../config/home.js";
import { registerArtifactsCommands } from "./commands/artifacts.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerInitCommand } from "./commands/init.js";
import { registerLogsCommand } from "./commands/logs.js";
import { registerMigrateCommand } from "./commands/migrate.js";
import { registerOrchestrateCommand } from "./commands/orchestrate.js";
import { registerRunCommand } from "./commands/run.js";
import { registerRunsCommands } from "./commands/runs.js";
import { registerServerCommand } from "./commands/server.js";
import { registerScheduleCommands } from "./commands/schedule.js";
import { registerStackCommands } from "./commands/stack.js";
import { homeHelpLine, registerStatusCommand } from "./commands/status.js";
import { registerStepCommand } from "./commands/step.js";
import { registerWorkerCommand } from "./commands/worker.js";
import { registerWorkersCommand } from "./commands/workers.js";
import "../presets/default.js";
import { reportError, shouldExitWhenCommandEnds } from "./output.js";

export function buildProgram(): Command {
  const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  const program = new Command("weir")
    .description("typed ML and data pipelines: run them, inspect their runs, manage stacks")
    .version(version)
    // Errors are thrown back to main() (which sets the exit code) instead of exiting on the spot.
    .exitOverride()
    .addHelpText("after", homeHelpLine);
  registerInitCommand(program);
  registerStatusCommand(program);
  registerRunCommand(program);
  registerRunsCommands(program);
  registerLogsCommand(program);
  registerArtifactsCommands(program);
  registerStackCommands(program);
  registerScheduleCommands(program);
  registerDemoCommand(program);
  registerOrchestrateCommand(program);
  registerServerCommand(program);
  registerStepCommand(program);
  registerMigrateCommand(program);
  registerWorkerCommand(program);
  registerWorkersCommand(program);
  return program;
}

/** The `weir` command (bin/weir.js): `argv` is process.argv. Sets process.exitCode (exits early only when stdout is closed). */
export async function main(argv: string[]): Promise<void> {
  // `weir runs list | head`: a reader that stops early is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error);
  } finally {
    // Open stores must not keep the process alive after the command is done.
    await closeMetadataStores();
  }
  // Nor may whatever a pipeline's steps left running (stdout and stderr are synchronous for
  // files and pipes on POSIX, so nothing printed is lost).
  if (shouldExitWhenCommandEnds()) process.exit();
}
