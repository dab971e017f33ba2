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

/**
 * A worker's reports on their way to Redis: the events of one event-loop turn go out as one
 * stream entry per run (`XADD key * e EVENT e EVENT …`), in one write for all runs, instead
 * of a command and a socket write per event. Events of one execution stay in order.
 */
export class ReportOutbox {
  private readonly waiting = new Map<string, { events: string[]; settle: { resolve(): void; reject(error: unknown): void }[] }>();
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly redis: Redis) {}

  send(streamKey: string, event: AttemptEvent): Promise<void> {
    let entry = this.waiting.get(streamKey);
    if (!entry) this.waiting.set(streamKey, (entry = { events: [], settle: [] }));
    entry.events.push(JSON.stringify(event));
    const sent = new Promise<void>((resolve, reject) => entry.settle.push({ resolve, reject }));
    this.flushing ??= setImmediate(() => this.flush());
    return sent;
  }

  private flush(): void {
    this.flushing = undefined;
    const entries = [...this.waiting];
    this.waiting.clear();
    const pipeline = this.redis.pipeline();
    for (const [streamKey, { events }] of entries) {
      pipeline.xadd(streamKey, "MAXLEN", "~", STREAM_MAX_LEN, "*", ...events.flatMap((event) => ["e", event]));
    }
    pipeline.exec().then(
      (replies) => {
        entries.forEach(([, { settle }], index) => {
          const error = replies?.[index]?.[0];
          for (const s of settle) {
            if (error) s.reject(error);
            else s.resolve();
          }
        });
      },
      (error: unknown) => {
        for (const [, { settle }] of entries) for (const s of settle) s.reject(error);
      },
    );
  }
}

/** The worker side: one execution's reports, appended in order to the run's stream. */
export class AttemptChannel {
  /** The `started` report held back (up to the queue config's `startedDelayMs`), and its timer. */
  private heldStart: { event: AttemptEvent; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly outbox: ReportOutbox,
    private readonly streamKey: string,
    private readonly ids: { stepRunId: string; attempt: number; execution: string },
    /** How long `started` may wait to ride with the next report (0: never waits). */
    private readonly startedDelayMs: number,
  ) {}

  /** The attempt started; reported at once when `now`, else with the next report or after `startedDelayMs`. */
  started(worker: string, previous: number, now: boolean): Promise<void> {
    const event: AttemptEvent = { ...this.ids, type: "started", worker, previous };
    if (now || this.startedDelayMs === 0) return this.send(event);
    const timer = setTimeout(() => void this.releaseStart()?.catch(() => undefined), this.startedDelayMs);
    this.heldStart = { event, timer };
    return Promise.resolve();
  }
  log(stream: "stdout" | "stderr" | "log", message: string): void {
    // Not awaited: reports keep their order, and a lost log line must not fail the step.
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

  private send(event: AttemptEvent): Promise<void> {
    void this.releaseStart()?.catch(() => undefined); // the start goes first, in the same entry
    return this.outbox.send(this.streamKey, event);
  }

  private releaseStart(): Promise<void> | undefined {
    const held = this.heldStart;
    if (!held) return undefined;
    this.heldStart = undefined;
    clearTimeout(held.timer);
    return this.outbox.send(this.streamKey, held.event);
  }
}

/** Parses the entries of an XREAD reply into events (entries that are not weir's are skipped). */
export function eventsOf(entries: [id: string, fields: string[]][]): AttemptEvent[] {
  const events: AttemptEvent[] = [];
  // An entry holds one or more events, each in a field named "e" (see ReportOutbox).
  for (const [, fields] of entries) {
    for (let at = 0; at + 1 < fields.length; at += 2) {
      if (fields[at] !== "e") continue;
      try {
        events.push(JSON.parse(fields[at + 1]) as AttemptEvent);
      } catch {
        // Not ours: ignore.
      }
    }
  }
  return events;
}
