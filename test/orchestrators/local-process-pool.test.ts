import { fork, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { LocalArtifactStore, LocalProcessOrchestrator, Stack, type PipelineRun } from "weir";
import { closeMetadataStores } from "../../src/config/home.js";
import * as fx from "../fixtures/process/pool-pipelines.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-pool-orch-"));
const ROOT = join(import.meta.dirname, "..", "..");

/** Whether a process is still there (not exited, not a zombie); Linux /proc. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.runIf(existsSync("/proc/self/stat"))("local_process: step processes forked ahead", () => {
  const tmp = mkdtempSync(join(tmpdir(), "weir-pool-"));
  const stackWith = (config: ConstructorParameters<typeof LocalProcessOrchestrator>[0] = {}) =>
    new Stack({
      name: "pool-" + JSON.stringify(config).replace(/\W+/g, "-"),
      orchestrator: new LocalProcessOrchestrator({ echoOutput: false, ...config }),
      artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts") }),
    });
  const witnesses = async (run: PipelineRun) => {
    expect(run.error).toBe(null);
    return (await run.output()) as fx.Witness[];
  };

  afterAll(async () => {
    await closeMetadataStores();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("runs every attempt in a process of its own, most of them forked ahead, and leaves none behind", async () => {
    const run = await fx.eight.run({}, { stack: stackWith({ cpus: 2 }), enableCache: false });
    const seen = await witnesses(run);
    expect(seen.map((w) => w.label)).toEqual(["a", "b", "c", "d", "e", "f", "g", "h"]);
    // One attempt per process: eight distinct processes, none of them this one.
    expect(new Set(seen.map((w) => w.pid)).size).toBe(8);
    expect(seen.map((w) => w.pid)).not.toContain(process.pid);
    // The first attempts fork their own; later ones are handed processes forked ahead.
    expect(seen.filter((w) => w.warm).length).toBeGreaterThan(0);
    // A cold process reads its task from the metadata store; one forked ahead is handed it with
    // its attempt and never opens the store.
    for (const w of seen) expect(w.storeOpened, w.label).toBe(!w.warm);
    expect(seen.every((w) => w.orchestratorRunId === run.orchestratorRunId)).toBe(true);
    // The pool existed while steps ran (processes forked ahead, other than the steps' own) …
    const pooled = new Set(seen.flatMap((w) => w.siblings));
    expect(pooled.size).toBeGreaterThan(0);
    // … and when the run has returned, neither its step processes nor the pool's are left.
    for (const pid of [...pooled, ...seen.map((w) => w.pid)]) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it("gives a step with a memory setting its heap limit in a process forked ahead too", async () => {
    const run = await fx.withMemory.run({}, { stack: stackWith({ cpus: 2 }), enableCache: false });
    const seen = await witnesses(run);
    const limited = seen.filter((w) => w.label !== "unlimited");
    expect(limited).toHaveLength(6);
    expect(limited.filter((w) => w.warm).length).toBeGreaterThan(0);
    for (const w of limited) {
      expect(w.execArgv).toContain("--max-old-space-size=190");
      expect(w.heapLimitMiB).toBeLessThan(400);
    }
    const unlimited = seen.find((w) => w.label === "unlimited")!;
    expect(unlimited.execArgv.some((arg) => arg.startsWith("--max-old-space-size"))).toBe(false);
    expect(unlimited.heapLimitMiB).toBeGreaterThan(400);
  });

  it("sets each attempt's granted GPUs in its environment before the step's module is imported", async () => {
    const run = await fx.gpus.run({}, { stack: stackWith({ cpus: 2, gpus: 2 }), enableCache: false });
    const seen = await witnesses(run);
    const withGpu = seen.filter((w) => w.label.startsWith("g"));
    expect(withGpu).toHaveLength(6);
    expect(withGpu.filter((w) => w.warm).length).toBeGreaterThan(0);
    for (const w of withGpu) {
      expect(["0", "1"]).toContain(w.cuda);
      expect(w.cudaAtImport).toBe(w.cuda);
    }
    // Two attempts at a time on 2 GPUs: both devices were handed out.
    expect(new Set(withGpu.map((w) => w.cuda))).toEqual(new Set(["0", "1"]));
    // A step that asked for no GPU sees none, in a warm process forked for a GPU step too.
    for (const w of seen.filter((w) => w.label.startsWith("n"))) {
      expect(w.cuda).toBe("");
      expect(w.cudaAtImport).toBe("");
    }
  });

  it("registers the module --register names (from dist/: the TypeScript hooks) before it reports ready", async () => {
    const marker = join(tmp, "registered.json");
    const hooks = pathToFileURL(join(ROOT, "test", "fixtures", "process", "register-marker.mjs")).href;
    const child = fork(join(ROOT, "src", "entrypoints", "step.ts"), ["--warm", "--register", hooks], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, WEIR_TEST_REGISTER_MARKER: marker },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      serialization: "advanced",
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.on("message", (message: { type?: string }) => message.type === "ready" && resolve());
        child.once("exit", (code) => reject(new Error(`exited with ${code} before it was ready`)));
      });
      expect(JSON.parse(readFileSync(marker, "utf8"))).toEqual({ registered: true });
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("leaves no step process behind when the orchestrating process is killed", async () => {
    const file = join(tmp, "lingering.json");
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/process/pool-orchestrator.ts", file], {
      cwd: ROOT,
      env: { ...process.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    try {
      // The step runs (a cold process: the first of its kind) and the pool has forked processes ahead.
      await until(() => existsSync(file) || child.exitCode !== null, "the step to start");
      expect(child.exitCode, stderr).toBe(null);
      const step = JSON.parse(readFileSync(file, "utf8")) as fx.Witness;
      expect(step.siblings.length).toBeGreaterThan(0);
      child.kill("SIGKILL");
      await exited;
      // Each process sees its IPC channel close and exits, booted or still booting.
      for (const pid of [step.pid, ...step.siblings]) await until(() => !alive(pid), `pid ${pid} to exit`);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
