import type { AttemptChannel, AttemptResult, ProducedArtifact } from "../../engine/launcher.js";
import { serializeError, withoutValue, type AckMessage, type ChildMessage, type ParentMessage } from "./protocol.js";

/**
 * The step process's side of the local_process launcher: reports over the IPC channel of
 * `child_process.fork`. Items wait for the parent's ack, so they are recorded one at a
 * time and in order (and a failure to record one fails the step). stdout and stderr reach
 * the parent through its pipes, so only `log` lines are sent.
 */
export class IpcChannel implements AttemptChannel {
  private pendingAck: ((message: AckMessage) => void) | undefined;

  constructor() {
    if (!process.send) throw new Error("the IPC attempt channel needs a process started with an IPC channel (child_process.fork)");
    process.on("message", (message: ParentMessage) => {
      if (message.type === "ack") this.pendingAck?.(message);
    });
  }

  // The parent's launcher reports the start when it granted resources and forked this process.
  started(): void {}

  async item(produced: ProducedArtifact): Promise<void> {
    const acked = new Promise<AckMessage>((resolve) => (this.pendingAck = resolve));
    await this.send({ type: "item", item: withoutValue(produced) });
    const ack = await acked;
    this.pendingAck = undefined;
    if (ack.error) throw new Error(`recording item "${produced.mappingKey}" failed: ${ack.error}`);
  }

  log(stream: "stdout" | "stderr" | "log", message: string): void {
    if (stream === "log") this.send({ type: "log", message }).catch(() => undefined);
  }

  // The outcome ends the attempt in the parent: what the step printed is flushed into the
  // pipes first, so the parent has read every line when the outcome arrives.
  async result(result: AttemptResult): Promise<void> {
    await flushOutput();
    return this.send({ type: "result", result: { metadata: result.metadata, ...(result.output ? { output: withoutValue(result.output) } : {}) } });
  }

  async error(error: unknown, options: { uncaught?: boolean } = {}): Promise<void> {
    await flushOutput();
    return this.send({ type: "error", error: serializeError(error), ...(options.uncaught ? { uncaught: true } : {}) });
  }

  /** Sends a message to the parent; rejects when it cannot be serialized (e.g. a function in metadata). */
  private send(message: ChildMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!process.connected) return resolve();
      try {
        // A send error means the channel closed; the step process's disconnect handler ends it.
        process.send!(message, () => resolve());
      } catch (error) {
        reject(error);
      }
    });
  }
}

/** Resolves once everything written to stdout and stderr so far is in the pipes (or could not be written). */
function flushOutput(): Promise<void> {
  const flush = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => (stream.writable ? stream.write("", () => resolve()) : resolve()));
  return Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => undefined);
}
