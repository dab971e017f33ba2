import { createRequire } from "node:module";
import type { z as zod } from "zod";
import { StackError } from "../../authoring/errors.js";

/**
 * How long a worker holds back an attempt's `started` report by default. An attempt that
 * reports anything else by then (its result, most often) sends the start in the same stream
 * entry, so a tiny step costs one report, and the engine records its start and end in one write.
 */
export const STARTED_DELAY_MS = 50;

/** The queue orchestrator's configuration, as registered with a stack. */
const buildSchema = (z: typeof zod) =>
  z
    .object({
      name: z.string().min(1).optional(),
      /** Where BullMQ keeps its queues: `redis://host:port[/db]`. */
      redisUrl: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379"'),
      /** Namespace of every key weir writes to Redis (several deployments can share one Redis). */
      prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/, "may use letters, digits, '_', '.', '-' only").default("weir"),
      /** Where the run engine runs: the submitting process ("client") or a worker ("worker"). */
      orchestrateIn: z.enum(["client", "worker"]).default("client"),
      /** How many attempts the engine hands to the queue at once (workers are the real gate). */
      maxParallel: z.number().int().min(1).optional(),
      /** How long a worker's hold on a job lasts without renewal; a dead worker's jobs return after it. */
      lockDurationMs: z.number().int().min(200).default(30_000),
      /** How often workers look for jobs whose worker died (BullMQ's stalled-job check). */
      stalledIntervalMs: z.number().int().min(100).default(15_000),
      /** How often a job may be found abandoned and run again before it fails for good. */
      maxStalledCount: z.number().int().min(0).default(5),
      /** How often workers say they are alive; a worker silent for 3 beats is gone. */
      heartbeatMs: z.number().int().min(50).default(2_000),
      /**
       * How long a worker holds an attempt's start report back, so that a quick step's rides
       * with its result (one report, one row write). 0: at once. A step with a timeout, or an
       * execution that replaces an abandoned one, reports its start at once whatever this is.
       */
      startedDelayMs: z.number().int().min(0).default(STARTED_DELAY_MS),
    })
    .strict();

export type QueueConfigInput = zod.input<ReturnType<typeof buildSchema>>;
export type QueueConfig = zod.output<ReturnType<typeof buildSchema>>;

// zod is loaded when the first queue orchestrator is made, not by every process that imports
// weir (step processes included), which would pay for it at each start.
let schema: ReturnType<typeof buildSchema> | undefined;
function queueConfigSchema(): ReturnType<typeof buildSchema> {
  schema ??= buildSchema((createRequire(import.meta.url)("zod") as { z: typeof zod }).z);
  return schema;
}

/** The config, validated; errors name the orchestrator and the field. */
export function parseQueueConfig(input: unknown, name = "queue"): QueueConfig {
  const parsed = queueConfigSchema().safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.join(".") || "config";
    return issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}` : `"${field}" ${issue.message}`;
  });
  throw new StackError(`orchestrator "${name}" (queue): ${problems.join("; ")}`);
}

/** Every Redis name weir uses under one prefix (BullMQ's queues live under the same prefix). */
export function queueKeys(prefix: string) {
  return {
    prefix,
    /** BullMQ queue of the runs whose orchestration is a job (orchestrateIn: "worker"). */
    orchestrateQueue: "orchestrate",
    /** Set of the step queues (one per resource class) that exist, so workers find them. */
    classes: `${prefix}:weir:classes`,
    /** Set of worker ids; each live one also has its heartbeat key. */
    workers: `${prefix}:weir:workers`,
    worker: (id: string) => `${prefix}:weir:worker:${id}`,
    /** The stream on which workers report a run's attempts (started, items, logs, outcome). */
    runEvents: (runId: string) => `${prefix}:weir:run:${runId}`,
    /** Pub/sub channel: "stop this attempt" (timeouts), as `stepRunId/attempt`. */
    cancel: `${prefix}:weir:cancel`,
  };
}

/** BullMQ job id of one attempt (ids may not contain ':'). */
export function attemptJobId(stepRunId: string, attempt: number): string {
  return `${stepRunId}.${attempt}`;
}
