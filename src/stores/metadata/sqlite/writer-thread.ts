/**
 * The SQLite store's writer thread. A run that records thousands of step runs a second spends
 * about a third of its time in SQLite's inserts; this thread takes that work to another core.
 * It keeps its own connection to the file, applies the batches the store posts in the order
 * they come (each in one transaction, as the store would), posts each batch's outcomes back,
 * and counts the batches done in shared memory so that the store can wait for them
 * synchronously (a read must see every write made before it).
 *
 * WriterThread is the store's side; `runWriterThread` runs in the thread.
 */
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import type { Outcome } from "../write-batcher.js";
import { openDatabase } from "./file-errors.js";
import { SqliteWriteApplier, type SqliteOp } from "./writes.js";

/** Shared counters: [0] batches the thread has finished (committed or failed); [1] 1 once its connection is open. */
const DONE = 0;
const READY = 1;

type ToThread = { batch: number; ops: readonly SqliteOp[] } | { close: true };
type FromThread =
  | { batch: number; outcomes: Outcome[] }
  | { batch: number; failed: SerializedError }
  | { closed: true };

interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** Errors cross threads as plain values; the SQLite error code (tests and callers read it) is kept. */
function serialize(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, stack: error.stack, ...(typeof code === "string" ? { code } : {}) };
}

function revive(serialized: SerializedError): Error {
  const error = new Error(serialized.message) as Error & { code?: string };
  error.name = serialized.name;
  if (serialized.stack) error.stack = serialized.stack;
  if (serialized.code) error.code = serialized.code;
  return error;
}

/** The store's side of the thread. */
export class WriterThread {
  private readonly worker: Worker;
  private readonly shared = new Int32Array(new SharedArrayBuffer(8));
  private sent = 0;
  private readonly waiting = new Map<number, { resolve(outcomes: Outcome[]): void; reject(error: unknown): void }>();
  private broken: Error | undefined;
  /**
   * True once the thread has opened its connection. Until then the store commits on its own
   * connection: a run does not wait for the thread to boot (~30–60 ms of CPU). Read from
   * shared memory: a busy event loop still sees it at once.
   */
  get ready(): boolean {
    return Atomics.load(this.shared, READY) === 1;
  }

  constructor(path: string) {
    // Running from the TypeScript sources (tests), the thread loads them through tsx.
    const module = import.meta.url;
    const boot = module.endsWith(".ts")
      ? `import("tsx/esm/api").then((tsx) => tsx.register()).then(() => import(${JSON.stringify(module)})).then((m) => m.runWriterThread())`
      : `import(${JSON.stringify(module)}).then((m) => m.runWriterThread())`;
    this.worker = new Worker(boot, { eval: true, workerData: { path, shared: this.shared } });
    // The thread never keeps the process alive: a store's pending writes are flushed at exit (sqlite-store.ts).
    this.worker.unref();
    this.worker.on("message", (message: FromThread) => this.received(message));
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new Error(`the SQLite writer thread stopped (exit code ${code})`)));
  }

  /** Posts a batch; resolves with its outcomes once the thread committed it (or rejects: nothing of it committed). */
  send(ops: readonly SqliteOp[]): Promise<Outcome[]> {
    if (this.broken) return Promise.reject(this.broken);
    const batch = ++this.sent;
    return new Promise<Outcome[]>((resolve, reject) => {
      this.waiting.set(batch, { resolve, reject });
      this.worker.postMessage({ batch, ops } satisfies ToThread);
    });
  }

  /** Blocks until the thread has finished every batch posted so far (their outcomes arrive as messages later). */
  waitSync(): void {
    for (;;) {
      const done = Atomics.load(this.shared, DONE);
      if (done >= this.sent || this.broken) return;
      // Bounded waits, so that a thread that died between two checks is noticed.
      Atomics.wait(this.shared, DONE, done, 1000);
    }
  }

  /** Lets the thread finish what it was given, then stops it. */
  async close(): Promise<void> {
    if (this.broken) return;
    const closed = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    // Waited for: the process stays up until the thread has closed its connection.
    this.worker.ref();
    this.worker.postMessage({ close: true } satisfies ToThread);
    await closed;
  }

  private received(message: FromThread): void {
    if ("closed" in message) return;
    const waiter = this.waiting.get(message.batch);
    this.waiting.delete(message.batch);
    if (!waiter) return;
    if ("failed" in message) return waiter.reject(revive(message.failed));
    for (const outcome of message.outcomes) if (!outcome.ok) outcome.error = revive(outcome.error as SerializedError);
    waiter.resolve(message.outcomes);
  }

  private fail(error: Error): void {
    if (this.broken) return;
    this.broken = error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}

/** The thread's loop: one connection, batches applied in the order they come. */
export function runWriterThread(): void {
  if (isMainThread || !parentPort) throw new Error("runWriterThread runs in the SQLite writer thread");
  const port = parentPort;
  const { path, shared } = workerData as { path: string; shared: Int32Array };
  const db = openDatabase(path);
  const applier = new SqliteWriteApplier(db, path);
  Atomics.store(shared, READY, 1);
  port.on("message", (message: ToThread) => {
    if ("close" in message) {
      db.close();
      port.postMessage({ closed: true } satisfies FromThread);
      port.close();
      return;
    }
    let reply: FromThread;
    try {
      const outcomes = applier.commit(message.ops);
      for (const outcome of outcomes) if (!outcome.ok) outcome.error = serialize(outcome.error);
      reply = { batch: message.batch, outcomes };
    } catch (error) {
      reply = { batch: message.batch, failed: serialize(error) };
    }
    Atomics.store(shared, DONE, message.batch);
    Atomics.notify(shared, DONE);
    port.postMessage(reply);
  });
}
