import type { Command } from "commander";
import { StackError } from "../../authoring/errors.js";
import { openMetadataStore } from "../../config/home.js";
import { describeCapacity, parseCapacity } from "../../orchestrators/queue/resources.js";
import { resolveStack } from "../../stack/stack.js";
import type { WorkerMode } from "../../orchestrators/queue/worker/worker.js";
import { CliError } from "../output.js";

interface WorkerFlags {
  stack?: string;
  concurrency?: string;
  resources?: string;
  mode: string;
  id?: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("run step attempts (and run orchestrations) of a queue stack until stopped (Ctrl-C)")
    .option("--stack <name>", "a registered stack with the queue orchestrator (default: the active stack)")
    .option("--concurrency <n>", "attempts of one resource class taken at once (default: the CPUs given)")
    .option("--resources <list>", "what this worker gives, e.g. cpu=8,memory=32GB,gpu=1 (default: this machine, no GPUs)")
    .option("--mode <mode>", "in-process (steps are function calls here) or process (a step process per attempt)", "in-process")
    .option("--id <id>", "worker id shown by `weir workers` (default: host-pid-random)")
    .action(async (flags: WorkerFlags) => {
      if (flags.mode !== "in-process" && flags.mode !== "process") throw new CliError(`--mode must be "in-process" or "process", not "${flags.mode}"`);
      const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
      if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
        throw new CliError(`--concurrency must be a whole number ≥ 1, not "${flags.concurrency}"`);
      }
      const stack = await resolveStack(await openMetadataStore(), flags.stack);
      if (stack.orchestrator.flavor !== "queue") {
        throw new StackError(`stack "${stack.name}" uses the "${stack.orchestrator.flavor}" orchestrator; weir worker serves stacks with the "queue" orchestrator`);
      }
      const capacity = parseCapacity(flags.resources);
      // Loaded here: the worker brings BullMQ, which other commands need not load.
      const { QueueWorker } = await import("../../orchestrators/queue/worker/worker.js");
      const worker = new QueueWorker({ stack, capacity, concurrency, mode: flags.mode as WorkerMode, id: flags.id });
      await worker.start();
      console.log(`worker ${worker.id} ready: stack ${stack.name}, ${describeCapacity(capacity)}, concurrency ${worker.concurrency}, ${worker.mode}`);
      // First Ctrl-C: finish the running attempts; second: stop them.
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = () => {
          signals += 1;
          if (signals === 1) console.log(`worker ${worker.id}: stopping after the running attempts (again to stop them now)`);
          void worker.stop(signals > 1).then(resolve);
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
    });
}
