import { fork, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import type { AssignMessage, ChildMessage } from "./protocol.js";

/** Where a step process's output lines go (stdout or stderr, without the newline). */
export type LineSink = (stream: "stdout" | "stderr", line: string) => void;

// Lines a process prints before it is handed an attempt are kept for that attempt (as a cold
// process's start-up output is); a process that prints more than this while idle loses the oldest.
const MAX_BUFFERED_LINES = 1_000;

/**
 * A forked step process and its output: lines are buffered until `attach` names their sink,
 * so nothing a process prints (during its boot, too) is lost or goes to the wrong attempt.
 */
export class StepProcess {
  private sink: LineSink | undefined;
  private buffered: [stream: "stdout" | "stderr", line: string][] = [];
  private readonly flushers: (() => void)[];

  constructor(readonly child: ChildProcess) {
    this.flushers = [forEachLine(child.stdout!, (line) => this.emit("stdout", line)), forEachLine(child.stderr!, (line) => this.emit("stderr", line))];
  }

  /** Emits the last line of each stream now if it has no newline yet (the process reported its outcome). */
  flushPartialLines(): void {
    for (const flush of this.flushers) flush();
  }

  /** Sends every line to `sink` from now on, the buffered ones first. */
  attach(sink: LineSink): void {
    this.sink = sink;
    for (const [stream, line] of this.buffered.splice(0)) sink(stream, line);
  }

  /** True once the process has exited or was killed (it can no longer take an attempt). */
  get gone(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  private emit(stream: "stdout" | "stderr", line: string): void {
    if (this.sink) return this.sink(stream, line);
    this.buffered.push([stream, line]);
    if (this.buffered.length > MAX_BUFFERED_LINES) this.buffered.shift();
  }
}

export interface WarmPoolOptions {
  /** The step entry point, forked with `--warm`. */
  entrypoint: string;
  /** Processes kept booted (or booting) per kind (execArgv): the attempts that can run at once. */
  size: number;
  /** At most this many idle or booting processes in all (several kinds: the least recently used give way). */
  maxTotal?: number;
  /** How a process of a kind is forked (default: with the kind's execArgv, `--warm` alone). */
  forkArguments?(execArgv: string[]): { execArgv: string[]; args: string[] };
}

interface Warm {
  process: StepProcess;
  /** The environment it was forked with; an attempt's differences travel in its `assign` message. */
  env: NodeJS.ProcessEnv;
}

/** Processes forked ahead for one set of Node options (execArgv, NODE_OPTIONS): fixed at fork time. */
interface Kind {
  execArgv: string[];
  ready: Warm[];
  booting: Set<Warm>;
  waiters: { resolve(warm: Warm | undefined): void }[];
  /** The environment of the latest request: new processes are forked with it. */
  env: NodeJS.ProcessEnv;
  lastUsed: number;
  /** A process of this kind died before it was ready: no more are forked, attempts get cold processes. */
  broken: boolean;
}

/** A booted process handed to one attempt, and what to tell it. */
export interface Lease {
  process: StepProcess;
  /** Sends the attempt (and its recorded task, JSON); the process runs it and exits. */
  assign(stepRunId: string, attempt: number, task?: string): void;
}

/**
 * Step processes forked ahead of their attempts (`step.js --warm`), so that an attempt does
 * not wait for Node, the TypeScript loader and weir to load. Each process still runs exactly
 * one attempt and exits; a taken process is replaced in the background. Processes are kept
 * per kind, the execArgv they were forked with (the tsx loader, the heap limit of a step's
 * memory setting): a kind is warmed once an attempt asked for it, so the first attempt of a
 * kind (and any attempt while none is booted or booting) gets a cold process.
 */
export class WarmPool {
  private readonly kinds = new Map<string, Kind>();
  private closed = false;
  private clock = 0;

  constructor(private readonly options: WarmPoolOptions) {}

  /**
   * A process for an attempt with these execArgv and environment: a ready one, else the
   * next of those booting (its boot began before a cold fork would); `undefined` when none
   * is ready or booting (fork a cold one). Rejects if `signal` aborts while it waits.
   */
  async acquire(execArgv: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<Lease | undefined> {
    if (this.closed || this.options.size < 1) return undefined;
    const key = JSON.stringify([execArgv, env.NODE_OPTIONS ?? ""]);
    let kind = this.kinds.get(key);
    if (!kind) {
      kind = { execArgv, ready: [], booting: new Set(), waiters: [], env, lastUsed: 0, broken: false };
      this.kinds.set(key, kind);
    }
    kind.env = env;
    kind.lastUsed = ++this.clock;
    let warm: Warm | undefined;
    while (kind.ready.length > 0 && !warm) {
      const next = kind.ready.shift()!;
      if (!next.process.gone) warm = next;
    }
    if (!warm && !kind.broken && kind.booting.size > kind.waiters.length) warm = await this.waitFor(kind, signal);
    this.fill(kind);
    return warm && lease(warm, env);
  }

  /** Kills the idle and booting processes and resolves once they have exited. */
  async close(): Promise<void> {
    this.closed = true;
    const exits: Promise<void>[] = [];
    for (const kind of this.kinds.values()) {
      for (const waiter of kind.waiters.splice(0)) waiter.resolve(undefined);
      for (const warm of [...kind.ready.splice(0), ...kind.booting]) exits.push(killAndWait(warm.process.child));
      kind.booting.clear();
    }
    await Promise.all(exits);
  }

  /** Pids of the idle and booting processes (diagnostics and tests). */
  pids(): number[] {
    return [...this.kinds.values()].flatMap((kind) => [...kind.ready, ...kind.booting].map((warm) => warm.process.child.pid!));
  }

  private waitFor(kind: Kind, signal: AbortSignal): Promise<Warm | undefined> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (warm: Warm | undefined) => {
          signal.removeEventListener("abort", onAbort);
          resolve(warm);
        },
      };
      const onAbort = () => {
        const index = kind.waiters.indexOf(waiter);
        if (index !== -1) kind.waiters.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      kind.waiters.push(waiter);
    });
  }

  /** Forks processes of this kind until `size` are ready or booting (within `maxTotal`). */
  private fill(kind: Kind): void {
    const maxTotal = this.options.maxTotal ?? 2 * this.options.size;
    while (!this.closed && !kind.broken && kind.ready.length + kind.booting.size < this.options.size) {
      if (this.total() >= maxTotal && !this.evictFor(kind)) return;
      this.forkWarm(kind);
    }
  }

  private total(): number {
    let total = 0;
    for (const kind of this.kinds.values()) total += kind.ready.length + kind.booting.size;
    return total;
  }

  /** Kills an idle process of the least recently used other kind; false if there is none. */
  private evictFor(kind: Kind): boolean {
    const others = [...this.kinds.values()].filter((k) => k !== kind && k.ready.length > 0).sort((a, b) => a.lastUsed - b.lastUsed);
    const victim = others[0]?.ready.shift();
    if (!victim) return false;
    victim.process.child.kill("SIGKILL");
    return true;
  }

  private forkWarm(kind: Kind): void {
    const env = kind.env;
    const { execArgv, args } = this.options.forkArguments?.(kind.execArgv) ?? { execArgv: kind.execArgv, args: [] };
    const child = fork(this.options.entrypoint, ["--warm", ...args], {
      execArgv,
      env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
    });
    const warm: Warm = { process: new StepProcess(child), env };
    kind.booting.add(warm);
    const onMessage = (message: ChildMessage) => {
      if (message.type !== "ready" || !kind.booting.delete(warm)) return;
      child.off("message", onMessage);
      const waiter = kind.waiters.shift();
      if (waiter) waiter.resolve(warm);
      else kind.ready.push(warm);
    };
    child.on("message", onMessage);
    // An error without a pid: the fork failed; with one, a kill or send failed (the exit follows).
    child.on("error", () => {
      if (child.pid === undefined) onGone();
    });
    const onGone = () => {
      const wasBooting = kind.booting.delete(warm);
      const index = kind.ready.indexOf(warm);
      if (index !== -1) kind.ready.splice(index, 1);
      if (wasBooting && !this.closed) {
        // It could not boot (a broken loader or option, or it was killed): stop warming this
        // kind rather than fork again and again; waiting attempts fork cold processes, which
        // report the cause as the attempt's failure.
        kind.broken = true;
        for (const waiter of kind.waiters.splice(0)) waiter.resolve(undefined);
      }
    };
    child.once("exit", onGone);
  }
}

/** Hands `warm` to one attempt whose environment is `env`. */
function lease(warm: Warm, env: NodeJS.ProcessEnv): Lease {
  return {
    process: warm.process,
    assign(stepRunId, attempt, task) {
      const message: AssignMessage = { type: "assign", stepRunId, attempt, env: envDifference(warm.env, env), ...(task === undefined ? {} : { task }) };
      // A failed send means the process died: its exit ends the attempt as a crash.
      warm.process.child.send(message, () => undefined);
    },
  };
}

/** The variables of `to` that differ from `from`, and those `to` lacks (null). */
export function envDifference(from: NodeJS.ProcessEnv, to: NodeJS.ProcessEnv): Record<string, string | null> {
  const difference: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(to)) if (value !== undefined && from[name] !== value) difference[name] = value;
  for (const name of Object.keys(from)) if (to[name] === undefined) difference[name] = null;
  return difference;
}

/** SIGKILLs a child process; resolves once it has exited. */
export function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    if (!child.kill("SIGKILL") && child.pid === undefined) resolve();
  });
}

/**
 * Calls `onLine` for each line of a text stream, including a last line without newline (at
 * the stream's end, or when the returned function is called).
 */
export function forEachLine(stream: Readable, onLine: (line: string) => void): () => void {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  });
  const flush = () => {
    if (partial !== "") onLine(partial);
    partial = "";
  };
  stream.on("end", flush);
  return flush;
}
