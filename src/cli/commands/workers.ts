import type { Command } from "commander";
import { StackError } from "../../authoring/errors.js";
import { openMetadataStore } from "../../config/home.js";
import { queueLibraries } from "../../orchestrators/queue/libraries.js";
import { QueueOrchestrator } from "../../orchestrators/queue/queue-orchestrator.js";
import { describeCapacity } from "../../orchestrators/queue/resources.js";
import { resolveStack } from "../../stack/stack.js";
import { listLiveWorkers } from "../../orchestrators/queue/worker/registry.js";
import { formatDuration, table } from "../output.js";

export function registerWorkersCommand(program: Command): void {
  program
    .command("workers")
    .description("the live workers of a queue stack: what they give and what they run")
    .option("--stack <name>", "a registered stack with the queue orchestrator (default: the active stack)")
    .option("--json", "print JSON")
    .action(async (flags: { stack?: string; json?: boolean }) => {
      const stack = await resolveStack(await openMetadataStore(), flags.stack);
      const orchestrator = stack.orchestrator;
      if (!(orchestrator instanceof QueueOrchestrator)) {
        throw new StackError(`stack "${stack.name}" uses the "${orchestrator.flavor}" orchestrator; workers exist for "queue" stacks only`);
      }
      const { redisUrl, prefix } = orchestrator.queueConfig;
      const { Redis } = await queueLibraries();
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3_000 });
      redis.on("error", () => undefined);
      try {
        const workers = await listLiveWorkers(redis, prefix);
        if (flags.json) return console.log(JSON.stringify(workers, null, 2));
        if (workers.length === 0) return console.log(`no live workers on ${redisUrl} (prefix ${prefix})`);
        const now = Date.now();
        console.log(
          table(
            ["worker", "host", "pid", "mode", "resources", "concurrency", "up", "running"],
            workers.map((w) => [
              w.id,
              w.host,
              w.pid,
              w.mode,
              describeCapacity(w.capacity),
              w.concurrency,
              formatDuration(now - w.startedAt),
              [...w.current.map((c) => `${c.invocationId} (run ${c.runId.slice(0, 8)}, attempt ${c.attempt})`), ...w.orchestrating.map((r) => `orchestrating run ${r.slice(0, 8)}`)].join("\n") || "-",
            ]),
          ),
        );
      } finally {
        redis.disconnect();
      }
    });
}
