import type { Command } from "commander";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { exitWhenCommandEnds, oneLine, shortId, table } from "../output.js";
import { importPipelines } from "../resolve.js";
import { runWithProgress } from "./run.js";

// The examples sit next to src/ and dist/ in the repository (this file is <root>/{src,dist}/cli/commands/).
const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run every example pipeline (examples/) on the default stack")
    .action(async () => {
      exitWhenCommandEnds();
      const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".ts")).sort();
      const rows: (string | number)[][] = [];
      for (const file of files) {
        for (const pipeline of (await importPipelines(join(EXAMPLES, file))).values()) {
          const run = await runWithProgress(pipeline, {}, { stack: "default" });
          const outcome = run.status === "completed" ? oneLine(await run.output()) : (run.error ?? "");
          rows.push([file, run.pipelineName, shortId(run.id), run.status, run.steps.length, outcome]);
          if (run.status !== "completed") process.exitCode = 1;
        }
      }
      console.log(table(["example", "pipeline", "run", "status", "steps", "output / error"], rows));
    });
}
