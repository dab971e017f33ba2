import type { Command } from "commander";
import { CliError } from "../output.js";

/** Commands of the contract (API.md §7) that later issues deliver: listed in --help, but not usable yet. */
export function registerPlannedCommands(program: Command): void {
  const planned = [
    { name: "server", description: "serve the dashboard and API", issue: "dashboard issue" },
  ];
  for (const { name, description, issue } of planned) {
    program
      .command(name)
      .description(`${description} (not available yet)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new CliError(`weir ${name} is not available yet (planned: ${issue})`);
      });
  }
}
