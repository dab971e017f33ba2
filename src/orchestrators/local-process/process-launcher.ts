import { fork, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { errorMessage, ResourceRequestError, WeirError } from "../../authoring/errors.js";
import { projectRoot, recordedModulePath } from "../../config/project.js";
import type { AttemptHooks, AttemptResult, StepLauncher, StepTask, StoredStepTask } from "../../engine/launcher.js";
import type { MetadataStore } from "../../stores/metadata/types.js";
import { Precompiler } from "./precompile.js";
import { reviveError, type ChildMessage } from "./protocol.js";
import { requestOf, ResourcePool, type Capacity, type Grant } from "./resource-pool.js";
import { killAndWait, StepProcess, WarmPool } from "./warm-pool.js";

/** A step process died before reporting an outcome (exit, signal, out of memory). */
export class StepProcessError extends WeirError {}

export interface ProcessLauncherOptions {
  orchestratorName: string;
  capacity: Capacity;
  maxParallel: number;
  /** The metadata store of the runs: step processes read their task there (and the run's artifact store). */
  store(): Promise<MetadataStore>;
  /** That store's URL: step processes are given it (WEIR_STORE_URL), never a home folder. */
  storeUrl: string;
  /** The stack's artifact store as a component: step processes rebuild it by flavor. */
  artifactStore: NonNullable<StoredStepTask["artifactStore"]>;
  /** The id `getOrchestratorRunId()` answers inside a step process (WEIR_ORCHESTRATOR_RUN_ID). */
  orchestratorRunId(runId: string): string;
  /** Copy step output to this process's stdout/stderr as well (default true), like in-process steps. */
  echoOutput?: boolean;
  /** Step processes kept forked ahead per kind (default: the CPUs, rounded down, ≥ 1; 0: none). */
  warmProcesses?: number;
}

// The entry point from the same tree as this file: src/ when running from source, dist/
// when built. The step process must use the same copy of weir as the user's module (the
// executor checks `instanceof DynamicOutput`). This launcher belongs to the copy the
// user's pipeline was defined with, i.e. the copy "weir" resolves to for the user's
// modules, and the child resolves it the same way: installed, that is dist/; in this
// repository under tsx (tests, `weir run examples/…`) tsconfig paths map "weir" to src/.
const HERE = fileURLToPath(import.meta.url);
const FROM_SOURCE = HERE.endsWith(".ts");
export const STEP_ENTRYPOINT = resolve(dirname(HERE), "../../entrypoints", FROM_SOURCE ? "step.ts" : "step.js");

/**
 * weir's TypeScript registration (tsx plus its module hooks, as `weir run` uses), so user
 * projects need not install tsx and a step's module loads in the same way as in the CLI.
 */
export function tsxImport(): string {
  return pathToFileURL(resolve(dirname(HERE), "../../../bin/register-typescript.js")).href;
}

/**
 * The hooks that load a run's precompiled TypeScript (`Precompiler`), for the manifest at
 * `manifest`: a step process of a TypeScript module registers these instead of tsx.
 */
export function precompiledImport(manifest: string): string {
  return `${PRECOMPILED_HOOKS}?${new URLSearchParams({ manifest })}`;
}
const PRECOMPILED_HOOKS = pathToFileURL(resolve(dirname(HERE), "../../../bin/register-precompiled.js")).href;

/** Only the hooks that resolve "weir" to this copy (for JavaScript modules that cannot resolve it themselves). */
function weirResolutionImport(): string {
  return pathToFileURL(resolve(dirname(HERE), "../../../bin/register-weir-resolution.js")).href;
}

const resolvesWeir = new Map<string, boolean>();

/**
 * Whether a step module can import "weir" from its own folder. One that cannot (a script in
 * a scratch folder, as `weir run` accepts it) gets the weir that runs it, as under `weir run`.
 */
function moduleResolvesWeir(module: string): boolean {
  let found = resolvesWeir.get(module);
  if (found === undefined) {
    try {
      createRequire(module).resolve("weir");
      found = true;
    } catch {
      found = false;
    }
    resolvesWeir.set(module, found);
  }
  return found;
}

/**
 * How a process is forked ahead for attempts with these execArgv. From dist/, weir's modules
 * need none of weir's module hooks (tsx, precompiled TypeScript, "weir" for a folder that does
 * not install it), and loading them through hooks (a loader thread that resolves and reads
 * every module, source maps on under tsx) is most of a boot's CPU time; so the process loads
 * weir first and registers the hooks after (`--register`), before it imports the step's
 * module, where `--import` would have registered them first (measured with tsx: 0.69× the CPU).
 */
export function warmForkArguments(execArgv: string[]): { execArgv: string[]; args: string[] } {
  const at = execArgv.indexOf("--import");
  const hooks = execArgv[at + 1];
  const weirs = hooks === tsxImport() || hooks === weirResolutionImport() || hooks?.startsWith(PRECOMPILED_HOOKS + "?");
  if (FROM_SOURCE || at === -1 || !weirs) return { execArgv, args: [] };
  return { execArgv: [...execArgv.slice(0, at), ...execArgv.slice(at + 2)], args: ["--register", hooks] };
}

const TYPESCRIPT = /\.[cm]?tsx?$/;

/** V8's messages when the heap limit is reached (it then aborts: SIGABRT / exit code 134). */
const OUT_OF_MEMORY = /heap out of memory|Reached heap limit|Allocation failed - process out of memory/;
const STDERR_TAIL_CHARS = 8_192;

/**
 * Runs every step attempt in its own child process (the step entry point), after
 * admission: an attempt starts only when its CPUs, memory and GPUs fit into what is free,
 * otherwise it waits in a FIFO queue. Memory is enforced as the child's V8 heap limit.
 */
export class ProcessLauncher implements StepLauncher {
  readonly maxParallel: number;
  private readonly pool: ResourcePool;
  private readonly children = new Set<ChildProcess>();
  /** Step processes forked ahead, as many per kind as attempts can run at once (by CPUs). */
  readonly warm: WarmPool;
  /** The run's TypeScript, compiled once for its step processes (from dist/; from source they run under tsx anyway). */
  private readonly precompiler = new Precompiler();

  constructor(private readonly options: ProcessLauncherOptions) {
    this.maxParallel = options.maxParallel;
    this.pool = new ResourcePool(options.capacity);
    this.warm = new WarmPool({
      entrypoint: STEP_ENTRYPOINT,
      size: options.warmProcesses ?? Math.max(1, Math.floor(options.capacity.cpus)),
      forkArguments: warmForkArguments,
    });
  }

  /** Why a step can never start here (its request exceeds the capacity), or undefined. */
  admissible(task: Pick<StepTask, "invocationId" | "resources">): string | undefined {
    const { capacity, orchestratorName } = this.options;
    const request = requestOf(task.resources, capacity);
    const who = `step "${task.invocationId}"`;
    const where = `orchestrator "${orchestratorName}" (local_process)`;
    const hint = "lower the step's settings.resources or raise the orchestrator's";
    if (request.cpus > capacity.cpus) {
      return `${who} requests ${plural(request.cpus, "CPU")} but ${where} has ${capacity.cpus}; ${hint} "cpus" config`;
    }
    if (request.memoryBytes > capacity.memoryBytes) {
      const asked = task.resources.memory ?? formatBytes(request.memoryBytes);
      return `${who} requests ${asked} memory but ${where} has ${formatBytes(capacity.memoryBytes)}; ${hint} "memory" config`;
    }
    if (request.gpus > capacity.gpuIds.length) {
      return `${who} requests ${plural(request.gpus, "GPU")} but ${where} has ${capacity.gpuIds.length}; ${hint} "gpus" config`;
    }
    return undefined;
  }

  async launch(task: StepTask, hooks: AttemptHooks): Promise<AttemptResult> {
    const problem = this.admissible(task);
    if (problem) throw new ResourceRequestError(problem);
    const grant = await this.pool.acquire(requestOf(task.resources, this.options.capacity), hooks.signal);
    // The attempt starts (and its timeout runs) once its resources are granted.
    hooks.started();
    // A cold step process is told only its step run id and reads the task from the store, as
    // a process started by any other backend (a queue worker, a pod) would. A process forked
    // ahead is handed the same record with its attempt, and so never opens the store.
    let recorded: string;
    try {
      // The module is recorded relative to the project root, as any process started elsewhere finds it.
      const saved: StoredStepTask = {
        ...task,
        module: recordedModulePath(task.module),
        projectRoot: projectRoot(),
        artifactStore: this.options.artifactStore,
      };
      await (await this.options.store()).saveStepTask(task.stepRunId, task.attempt, saved);
      recorded = JSON.stringify(saved);
    } catch (error) {
      this.pool.release(grant);
      throw error;
    }
    try {
      return await this.runChild(task, hooks, grant, recorded);
    } finally {
      this.pool.release(grant);
    }
  }

  /** Kills step processes still running (only abandoned ones can be left when a run ends) and the ones forked ahead. */
  async close(): Promise<void> {
    await Promise.all([...[...this.children].map(killAndWait), this.warm.close()]);
    this.precompiler.close();
  }

  /**
   * The module hooks a step process of `module` registers: from source, tsx (the step entry
   * point is TypeScript too); a TypeScript module's precompiled JavaScript, else tsx; for a
   * JavaScript module that cannot import "weir" itself, the hooks that resolve it to this copy.
   */
  private async loaderArguments(module: string | undefined): Promise<string[]> {
    if (FROM_SOURCE) return ["--import", tsxImport()];
    if (module && TYPESCRIPT.test(module)) {
      const manifest = await this.precompiler.prepare(module);
      return ["--import", manifest ? precompiledImport(manifest) : tsxImport()];
    }
    if (module && !moduleResolvesWeir(module)) return ["--import", weirResolutionImport()];
    return [];
  }

  private async runChild(task: StepTask, hooks: AttemptHooks, grant: Grant, recorded: string): Promise<AttemptResult> {
    const heapLimitMiB = task.resources.memoryBytes ? Math.max(1, Math.floor(task.resources.memoryBytes / 2 ** 20)) : undefined;
    const execArgv = await this.loaderArguments(task.module);
    if (heapLimitMiB !== undefined) execArgv.push(`--max-old-space-size=${heapLimitMiB}`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      WEIR_STORE_URL: this.options.storeUrl,
      WEIR_PROJECT_ROOT: projectRoot(),
      WEIR_ORCHESTRATOR_RUN_ID: this.options.orchestratorRunId(task.runId),
    };
    // With GPUs configured, a step sees exactly the devices it was granted (none if it asked for none).
    if (this.options.capacity.gpuIds.length > 0) env.CUDA_VISIBLE_DEVICES = grant.gpuIds.join(",");

    // A process of this kind forked ahead (ready, or the next to finish booting), else a cold one.
    const lease = await this.warm.acquire(execArgv, env, hooks.signal);
    return new Promise<AttemptResult>((resolvePromise, rejectPromise) => {
      if (hooks.signal.aborted) {
        lease?.process.child.kill("SIGKILL");
        return rejectPromise(hooks.signal.reason);
      }
      const stepProcess =
        lease?.process ??
        // The same arguments as `weir step`, without loading the whole CLI.
        new StepProcess(
          fork(STEP_ENTRYPOINT, [task.stepRunId, "--attempt", String(task.attempt)], {
            execArgv,
            env,
            stdio: ["ignore", "pipe", "pipe", "ipc"],
            serialization: "advanced",
          }),
        );
      const child = stepProcess.child;
      this.children.add(child);
      let outcome: { result: AttemptResult } | { error: Error } | undefined;
      let stderrTail = "";
      let settled = false;
      const settle = (error: Error | undefined, result?: AttemptResult) => {
        if (settled) return;
        settled = true;
        hooks.signal.removeEventListener("abort", kill);
        if (error) rejectPromise(error);
        else resolvePromise(result!);
      };
      // Timeout or teardown: the attempt is abandoned, so its process goes at once.
      const kill = () => child.kill("SIGKILL");
      hooks.signal.addEventListener("abort", kill, { once: true });

      const echo = this.options.echoOutput !== false;
      // A warm process's lines from before this attempt (its boot) come first, as a cold one's do.
      stepProcess.attach((stream, line) => {
        // Lines after the outcome (exit handlers) are echoed only: the attempt has ended.
        if (!settled) hooks.onLog(stream, line);
        if (echo) (stream === "stdout" ? process.stdout : process.stderr).write(line + "\n");
        if (stream === "stderr") stderrTail = (stderrTail + line + "\n").slice(-STDERR_TAIL_CHARS);
      });

      child.on("message", (message: ChildMessage) => {
        if (hooks.signal.aborted) return; // late news from an abandoned attempt is ignored
        switch (message.type) {
          case "log":
            hooks.onLog("log", message.message);
            break;
          case "item":
            // The child waits for this ack, so items are recorded one at a time, in order.
            hooks.onItem(message.item).then(
              () => child.send({ type: "ack" }, noop),
              (error) => child.send({ type: "ack", error: errorMessage(error) }, noop),
            );
            break;
          case "result":
            outcome = { result: message.result };
            setImmediate(settleOnOutcome);
            break;
          case "error": {
            const error = reviveError(message.error);
            if (message.uncaught) error.message = `uncaught exception in the step process: ${error.message}`;
            outcome = { error };
            setImmediate(settleOnOutcome);
            break;
          }
        }
      });
      // The attempt ends with its outcome, not with the process's exit (which takes a while:
      // its memory is unmapped, the loader thread stopped). The child flushes stdout and
      // stderr into the pipes before it reports, so the lines are read in the same poll phase
      // as the report or an earlier one; a check-phase callback runs after both.
      const settleOnOutcome = () => {
        if (hooks.signal.aborted || !outcome) return;
        stepProcess.flushPartialLines();
        if ("result" in outcome) settle(undefined, outcome.result);
        else settle(outcome.error);
      };
      child.once("error", (error) => {
        // Spawning failed (or a kill/send failed on a dead process): without a pid it never ran.
        if (child.pid === undefined) settle(new StepProcessError(`could not start a process for step "${task.invocationId}": ${error.message}`));
      });
      // "close" comes after the process exited and its pipes were read to the end: the end of
      // an attempt that reported no outcome (a crash), or of one that was aborted.
      child.once("close", (code, signal) => {
        this.children.delete(child);
        if (hooks.signal.aborted) return settle(hooks.signal.reason ?? new StepProcessError(`step "${task.invocationId}" was aborted`));
        if (outcome && "result" in outcome) return settle(undefined, outcome.result);
        if (outcome) return settle(outcome.error);
        settle(crashError(child.pid, code, signal, stderrTail, heapLimitMiB));
      });
      lease?.assign(task.stepRunId, task.attempt, recorded);
    });
  }
}

/** Why a step process ended without reporting an outcome. */
function crashError(
  pid: number | undefined,
  code: number | null,
  signal: NodeJS.Signals | null,
  stderrTail: string,
  heapLimitMiB: number | undefined,
): StepProcessError {
  const who = `the step process (pid ${pid})`;
  if (OUT_OF_MEMORY.test(stderrTail)) {
    const limit = heapLimitMiB === undefined ? "the default heap limit" : `heap limit ${heapLimitMiB} MiB`;
    return new StepProcessError(`${who} ran out of memory (${limit})`);
  }
  if (signal) return new StepProcessError(`${who} was killed by ${signal}`);
  const lastLine = stderrTail.trimEnd().split("\n").pop();
  return new StepProcessError(`${who} exited with code ${code} before reporting a result${lastLine ? ` (last stderr line: ${lastLine.slice(0, 300)})` : ""}`);
}

function noop(): void {}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** Decimal units, as users write memory settings ("64GB"). */
export function formatBytes(bytes: number): string {
  const units: [string, number][] = [
    ["TB", 1e12],
    ["GB", 1e9],
    ["MB", 1e6],
    ["KB", 1e3],
  ];
  for (const [unit, size] of units) if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  return `${bytes} B`;
}
