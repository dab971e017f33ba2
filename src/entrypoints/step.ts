import "./step-process.js"; // first: before weir's preset is evaluated
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { RunNotFoundError } from "../authoring/errors.js";
import { lookupStep } from "../authoring/step.js";
import { openMetadataStore } from "../config/home.js";
import { resolveModulePath } from "../config/project.js";
import { executeStep, loadStoredArtifact, type ExecutionEnvironment } from "../engine/executor.js";
import type { AttemptChannel, AttemptHooks, StoredStepTask } from "../engine/launcher.js";
import { defaultMaterializers } from "../materializers/registry.js";
import { IpcChannel } from "../orchestrators/local-process/ipc-channel.js";
import type { ChildMessage, ParentMessage } from "../orchestrators/local-process/protocol.js";
import "../presets/default.js";
import { createArtifactStore } from "../stack/flavors.js";
import { defaultArtifactStore } from "../stack/stack.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { MetadataStore } from "../stores/metadata/types.js";
import { ReportLineChannel } from "./report-channel.js";

/**
 * One attempt of one step run, from the metadata store: what `weir step STEP_RUN_ID
 * --attempt N` runs, in a process started by any launcher. The task (configuration and
 * input references) is read by step run id, unless the launcher handed it over with the
 * attempt (`recorded`: the task as it recorded it, JSON); the step's module is imported
 * relative to the project root (WEIR_PROJECT_ROOT); outputs go to the run's artifact store;
 * items, log lines and the outcome go through `channel`. Resolves to whether the attempt succeeded.
 */
export async function runStepAttempt(stepRunId: string, attempt: number, channel: AttemptChannel, recorded?: string): Promise<boolean> {
  process.title = `weir step ${stepRunId}`;
  try {
    const task = recorded === undefined ? await readStepTask(stepRunId, attempt) : (JSON.parse(recorded) as StoredStepTask);
    process.title = `weir step ${task.invocationId}`;
    if (!task.module) {
      throw new Error(`step "${task.invocationId}": the module that defines step "${task.stepName}" is unknown, so a step process cannot import it`);
    }
    const module = resolveModulePath(task.module, task.projectRoot);
    await import(pathToFileURL(module).href);
    const step = lookupStep(module, task.stepName, task.variant);
    if (!step) throw new Error(`step "${task.stepName}" is not defined by ${module}`);

    const env: ExecutionEnvironment = {
      artifacts: task.artifactStore
        ? createArtifactStore(task.artifactStore.flavor, task.artifactStore.config, task.artifactStore.name)
        : await artifactStoreOfRun(await openMetadataStore(), task.runId),
      materializers: defaultMaterializers(),
      loadArtifact: (ref) => loadStoredArtifact(ref, env),
    };
    const hooks: AttemptHooks = {
      started: () => channel.started(),
      // The launcher ends this process on timeout; nothing here ever aborts.
      signal: new AbortController().signal,
      onItem: (item) => channel.item(item),
      onLog: (stream, message) => channel.log(stream, message),
      loadArtifact: (ref) => env.loadArtifact(ref),
    };
    hooks.started();
    const { artifactStore: _where, projectRoot: _root, ...stepTask } = task;
    await channel.result(await executeStep(step, { ...stepTask, module }, hooks, env));
    return true;
  } catch (error) {
    await channel.error(error);
    return false;
  }
}

/** The task recorded for this attempt of the step run, read from the metadata store. */
async function readStepTask(stepRunId: string, attempt: number): Promise<StoredStepTask> {
  const saved = await (await openMetadataStore()).getStepTask(stepRunId);
  if (!saved || saved.attempt !== attempt) {
    const recorded = saved ? ` (the recorded task is of attempt ${saved.attempt})` : "";
    throw new RunNotFoundError(`no task is recorded for attempt ${attempt} of step run ${stepRunId}${recorded}`);
  }
  return saved.task as StoredStepTask;
}

/** For tasks recorded without their artifact store: the one of the run's stack, rebuilt from its component row by flavor. */
async function artifactStoreOfRun(store: MetadataStore, runId: string): Promise<ArtifactStore> {
  const run = await store.getRun(runId);
  if (!run) throw new RunNotFoundError(`no run with id "${runId}"`);
  const stack = await store.getStack(run.stackName);
  if (!stack) throw new RunNotFoundError(`stack "${run.stackName}" of run ${runId} is not registered, so its artifact store is unknown`);
  const row = stack.components.find((c) => c.type === "artifact_store");
  return row ? createArtifactStore(row.flavor, row.config, row.name) : defaultArtifactStore();
}

/**
 * A step process: runs the attempt named on the command line and exits. With an IPC channel
 * (the local_process launcher forks it) it reports over IPC; without one (started as a plain
 * command) it prints report lines on stdout. Exit code 0: the attempt succeeded; 1: it failed.
 */
export async function stepProcessMain(stepRunId: string, attempt: number, recorded?: string): Promise<never> {
  const channel: AttemptChannel = process.send ? new IpcChannel() : new ReportLineChannel();
  if (process.send) {
    // The parent went away (crashed, killed): nobody can record this step, so stop at once.
    process.on("disconnect", () => process.exit(1));
  }
  // An exception that escapes the step (e.g. thrown from a timer) fails the attempt with its
  // own message rather than a bare exit code.
  process.on("uncaughtException", (error) => {
    channel.error(error, { uncaught: true }).finally(() => process.exit(1));
  });
  const succeeded = await runStepAttempt(stepRunId, attempt, channel, recorded);
  // Exit even if the step left timers or sockets open; flush the pipes first.
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(succeeded ? 0 : 1);
}

/**
 * A step process forked ahead of its attempt (the local_process launcher's warm pool,
 * `step.js --warm`): it boots, loads what every attempt needs (weir's package entry, which
 * step modules import), reports `ready` and waits for the one attempt it is given
 * (`assign`, with the task the launcher recorded for it). It then sets the environment
 * variables the message carries and runs what `step.js STEP_RUN_ID --attempt N` runs,
 * without reading the task back from the metadata store, and exits.
 */
export async function warmStepProcessMain(options: { register?: string } = {}): Promise<void> {
  // The parent went away (crashed, killed) before or after handing out an attempt: stop.
  process.on("disconnect", () => process.exit(1));
  process.title = "weir step (warm)";
  // Failures here are the attempt's to report, not the pool's.
  await import("../index.js").catch(() => undefined);
  // Module hooks (`--register URL`: weir's hooks for the step's module — its precompiled
  // TypeScript, tsx, or "weir" resolution) registered only now, after weir's own modules were
  // loaded without them: they load the step's module as `--import URL` would.
  if (options.register) await import(options.register);
  // A disconnect during the boot may have come before the listener above.
  if (!process.connected) process.exit(1);
  let assigned = false;
  const onMessage = (message: ParentMessage) => {
    if (message.type !== "assign" || assigned) return;
    assigned = true;
    process.off("message", onMessage);
    for (const [name, value] of Object.entries(message.env)) {
      if (value === null) delete process.env[name];
      else process.env[name] = value;
    }
    void stepProcessMain(message.stepRunId, message.attempt, message.task);
  };
  process.on("message", onMessage);
  process.send!({ type: "ready" } satisfies ChildMessage);
}

/** `STEP_RUN_ID --attempt N`, as `weir step` takes them. */
export function parseStepArguments(argv: string[]): { stepRunId: string; attempt: number } {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { attempt: { type: "string" } } });
  const attempt = Number(values.attempt);
  if (positionals.length !== 1 || !Number.isInteger(attempt) || attempt < 1) {
    throw new Error(`usage: weir step STEP_RUN_ID --attempt N (got: ${argv.join(" ")})`);
  }
  return { stepRunId: positionals[0], attempt };
}

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}

// Started as a program (not imported): run the attempt its arguments name.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === "--warm" && process.send) {
    const { values } = parseArgs({ args: process.argv.slice(3), options: { register: { type: "string" } } });
    void warmStepProcessMain({ register: values.register });
  } else {
    const { stepRunId, attempt } = parseStepArguments(process.argv.slice(2));
    void stepProcessMain(stepRunId, attempt);
  }
}
