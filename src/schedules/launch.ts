/**
 * How a scheduler starts the run of one tick: `weir run` in a child process, in the project
 * root, exactly as a person would type it. The scheduler stays light (it imports no user
 * code, so an edited pipeline file is picked up at the next tick) and a run that crashes
 * cannot take the scheduler down.
 */
import { spawn } from "node:child_process";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ScheduleRecord } from "../stores/metadata/types.js";
import { projectRoot } from "./create.js";

const WEIR_BIN = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "weir.js");

export interface LaunchedRun {
  /** Settles when the run's process has exited, with its exit code (0: the run completed). */
  exited: Promise<{ code: number | null; stderr: string }>;
}

/** The run name of a tick: readable, sortable, and the same for every scheduler that might fire it. */
export function tickRunName(scheduleName: string, tick: number): string {
  return `${scheduleName}-${new Date(tick).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z")}`;
}

export function launchScheduledRun(schedule: ScheduleRecord, tick: number): LaunchedRun {
  const root = projectRoot();
  const module = isAbsolute(schedule.source.module) ? schedule.source.module : resolve(root, schedule.source.module);
  const args = [WEIR_BIN, "run", module, "--pipeline", schedule.pipelineName, "--run-name", tickRunName(schedule.name, tick)];
  for (const [key, value] of Object.entries(schedule.parameters)) args.push("--param", `${key}=${JSON.stringify(value)}`);
  if (schedule.stackName) args.push("--stack", schedule.stackName);
  if (!schedule.enableCache) args.push("--no-cache");
  args.push("--schedule", schedule.name, "--scheduled-for", String(tick));
  const child = spawn(process.execPath, args, { cwd: root, env: process.env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolveExit) => {
    child.once("error", (error) => resolveExit({ code: null, stderr: error.message }));
    child.once("exit", (code) => resolveExit({ code, stderr }));
  });
  return { exited };
}
