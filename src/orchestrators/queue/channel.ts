import type { Redis } from "ioredis";
import type { AttemptResult, ProducedArtifact } from "../../engine/launcher.js";
import { serializeError, withoutValue, type SerializedError } from "../local-process/protocol.js";

/**
 * What a worker reports about one execution of one attempt, on the run's Redis stream.
 * `execution` tells executions of the same attempt apart: when a worker dies and BullMQ
 * hands the job to another worker, the new execution's `started` supersedes the old one,
 * and anything the old one still sends is ignored.
 */
export type AttemptEvent = { stepRunId: string; attempt: number; execution: string } & (
  | { type: "started"; worker: string; /** Executions of this job before this one (stalled, i.e. lost). */ previous: number }
  | { type: "log"; stream: "stdout" | "stderr" | "log"; message: string }
  | { type: "item"; item: ProducedArtifact }
  | { type: "result"; result: AttemptResult }
  | { type: "error"; error: SerializedError }
);

/** Keeps each run's stream bounded when nobody reads it (the engine deletes it when the run ends). */
const STREAM_MAX_LEN = 1_000_000;

/** The worker side: one execution's reports, appended in order to the run's stream. */
export class AttemptChannel {
  constructor(
    private readonly redis: Redis,
    private readonly streamKey: string,
    private readonly ids: { stepRunId: string; attempt: number; execution: string },
  ) {}

  started(worker: string, previous: number): Promise<void> {
    return this.send({ ...this.ids, type: "started", worker, previous });
  }
  log(stream: "stdout" | "stderr" | "log", message: string): void {
    // Not awaited: ioredis keeps commands in order, and a lost log line must not fail the step.
    this.send({ ...this.ids, type: "log", stream, message }).catch(() => undefined);
  }
  item(item: ProducedArtifact): Promise<void> {
    return this.send({ ...this.ids, type: "item", item: withoutValue(item) });
  }
  result(result: AttemptResult): Promise<void> {
    const output = result.output ? { output: withoutValue(result.output) } : {};
    return this.send({ ...this.ids, type: "result", result: { metadata: result.metadata, ...output } });
  }
  error(error: unknown): Promise<void> {
    return this.send({ ...this.ids, type: "error", error: serializeError(error) });
  }

  private async send(event: AttemptEvent): Promise<void> {
    await this.redis.xadd(this.streamKey, "MAXLEN", "~", STREAM_MAX_LEN, "*", "e", JSON.stringify(event));
  }
}

/** Parses the entries of an XREAD reply into events (entries that are not weir's are skipped). */
export function eventsOf(entries: [id: string, fields: string[]][]): AttemptEvent[] {
  const events: AttemptEvent[] = [];
  for (const [, fields] of entries) {
    const at = fields.indexOf("e");
    if (at === -1 || at + 1 >= fields.length) continue;
    try {
      events.push(JSON.parse(fields[at + 1]) as AttemptEvent);
    } catch {
      // Not ours: ignore.
    }
  }
  return events;
}
