import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { lookupStep } from "../authoring/step.js";
import { executeStep, loadStoredArtifact, type ExecutionEnvironment } from "../engine/executor.js";
import type { AttemptHooks, StepTask } from "../engine/launcher.js";
import { openMetadataStore, weirHome } from "../config/home.js";
import { defaultMaterializers } from "../materializers/registry.js";
import {
  serializeError,
  withoutValue,
  type AckMessage,
  type ChildMessage,
  type ParentMessage,
  type StartMessage,
} from "../orchestrators/local-process/protocol.js";
import { LocalArtifactStore } from "../stores/artifacts/local/local-artifact-store.js";

/**
 * The step entry point: a process started by the local_process launcher (with an IPC
 * channel) runs exactly one attempt of one step and exits. The task arrives as the first
 * message; outputs go to the artifact store; items, log lines and the outcome go back
 * over IPC. stdout/stderr are piped to the parent, which stores them as the step's logs.
 */
export function stepProcessMain(): void {
  if (!process.send) throw new Error("the weir step entry point must be started with an IPC channel (child_process.fork)");
  // The parent went away (crashed, killed): nobody can record this step, so stop at once.
  process.on("disconnect", () => process.exit(1));
  // An exception that escapes the step (e.g. thrown from a timer) fails the attempt with
  // its own message rather than a bare exit code.
  process.on("uncaughtException", (error) => {
    send({ type: "error", error: serializeError(error), uncaught: true }).finally(() => process.exit(1));
  });
  process.on("message", (message: ParentMessage) => {
    if (message.type === "start") void run(message);
    else pendingAck?.(message);
  });
}

let pendingAck: ((message: AckMessage) => void) | undefined;

async function run({ stepRunId, attempt, artifactStore }: StartMessage): Promise<void> {
  process.title = `weir step ${stepRunId}`;
  try {
    // Configuration and input references come from the metadata store, by step run id.
    const saved = await (await openMetadataStore(weirHome())).getStepTask(stepRunId);
    if (!saved || saved.attempt !== attempt) {
      throw new Error(`no task is recorded for attempt ${attempt} of step run ${stepRunId} in ${weirHome()}`);
    }
    const task = saved.task as StepTask;
    process.title = `weir step ${task.invocationId}`;
    if (artifactStore.flavor !== "local") {
      throw new Error(`step processes can open the "local" artifact store flavor only, not "${artifactStore.flavor}"`);
    }
    if (!task.module) {
      throw new Error(`step "${task.invocationId}": the module that defines step "${task.stepName}" is unknown, so a step process cannot import it`);
    }
    await import(pathToFileURL(task.module).href);
    const step = lookupStep(task.module, task.stepName, task.variant);
    if (!step) throw new Error(`step "${task.stepName}" is not defined by ${task.module}`);

    const env: ExecutionEnvironment = {
      artifacts: new LocalArtifactStore({ path: artifactStore.root, name: artifactStore.name }),
      materializers: defaultMaterializers(),
      loadArtifact: (ref) => loadStoredArtifact(ref, env),
    };
    const hooks: AttemptHooks = {
      // The parent's launcher reported the start when it granted resources and forked us.
      started: () => undefined,
      // The parent kills this process on timeout; nothing here ever aborts.
      signal: new AbortController().signal,
      onItem: async (item) => {
        const acked = new Promise<AckMessage>((resolve) => (pendingAck = resolve));
        await send({ type: "item", item: withoutValue(item) });
        const ack = await acked;
        pendingAck = undefined;
        if (ack.error) throw new Error(`recording item "${item.mappingKey}" failed: ${ack.error}`);
      },
      onLog: (stream, message) => {
        // stdout/stderr reach the parent through the pipes (with output from outside the
        // step context too); only context.log lines need the IPC channel.
        if (stream === "log") send({ type: "log", message }).catch(() => undefined);
      },
      loadArtifact: (ref) => env.loadArtifact(ref),
    };
    const result = await executeStep(step, task, hooks, env);
    await send({ type: "result", result: { metadata: result.metadata, ...(result.output ? { output: withoutValue(result.output) } : {}) } });
  } catch (error) {
    await send({ type: "error", error: serializeError(error) });
  }
  // Exit even if the step left timers or sockets open; flush the pipes first.
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(0);
}

/** Sends a message to the parent; rejects when it cannot be serialized (e.g. a function in metadata). */
function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.connected) return resolve();
    try {
      // A send error means the channel closed; the disconnect handler ends this process.
      process.send!(message, () => resolve());
    } catch (error) {
      reject(error);
    }
  });
}

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write("", () => resolve()));
}

// Started as a program (not imported): run.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) stepProcessMain();
