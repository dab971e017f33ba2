import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, LocalArtifactStore, QueueOrchestrator, Stack, StackError, type QueueOrchestratorConfig } from "weir";
import { openMetadataStore } from "../../src/config/home.js";
import { stackFromRecord } from "../../src/stack/stack.js";
import { deleteKeys, killAllWorkers, REDIS_URL, startWorker, uniquePrefix, type StartedWorker } from "../worker/workers.js";
import * as fx from "../worker/fixtures/queue-pipelines.js";
import { orchestratorConformance } from "./orchestrator.conformance.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-queue-orch-"));
const tmp = mkdtempSync(join(tmpdir(), "weir-queue-data-"));

// Every test file has its own prefix on the shared Redis, deleted at the end.
const prefix = uniquePrefix("queue");
const config = { redisUrl: REDIS_URL, prefix };
const stackOf = (name: string, extra: Partial<QueueOrchestratorConfig> = {}) =>
  new Stack({ name, orchestrator: new QueueOrchestrator({ ...config, ...extra }), artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts") }) });
const stack = stackOf("queue-workers");
let workers: StartedWorker[] = [];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  // The workers find Redis through a registered queue stack; each attempt's artifact store
  // comes from the stack its run was submitted on.
  const store = await openMetadataStore();
  await store.saveStack({ name: stack.name, components: stack.components() });
  workers = await Promise.all([startWorker(["--stack", stack.name, "--concurrency", "4"]), startWorker(["--stack", stack.name])]);
}, 60_000);

afterAll(async () => {
  await killAllWorkers();
  await deleteKeys(prefix);
});

// Two worker processes running attempts in-process.
orchestratorConformance("queue", () => new QueueOrchestrator(config));

describe("queue orchestrator", () => {
  it("validates its config and is rebuilt from its stack record", async () => {
    expect(() => new QueueOrchestrator({ redisUrl: "127.0.0.1:6379" })).toThrow(StackError);
    expect(() => new QueueOrchestrator({ redisUrl: "127.0.0.1:6379" })).toThrow(/"redisUrl" must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => new QueueOrchestrator({ ...config, orchestrateIn: "cloud" as "worker" })).toThrow(/"orchestrateIn"/);
    expect(() => new QueueOrchestrator({ ...config, redisURL: "x" } as QueueOrchestratorConfig)).toThrow(/unknown key\(s\) "redisURL"/);
    const rebuilt = stackFromRecord({ name: stack.name, createdAt: Date.now(), components: stack.components().map((c, i) => ({ ...c, id: String(i) })) });
    expect(rebuilt.orchestrator).toBeInstanceOf(QueueOrchestrator);
    expect((rebuilt.orchestrator as QueueOrchestrator).queueConfig).toMatchObject({ redisUrl: REDIS_URL, prefix, orchestrateIn: "client" });
  });

  it("lists live workers with their resources and current steps (weir workers)", async () => {
    const dir = mkdtempSync(join(tmp, "held-"));
    const running = fx.heldOne.run({ dir }, { stack, enableCache: false });
    await until("the step to start", () => fx.marks(dir, "started").length > 0);
    const [pid] = fx.marks(dir, "started");
    try {
      type Listed = { id: string; pid: number; capacity: { cpus: number }; current: { invocationId: string }[] }[];
      const list = async () => JSON.parse(await weirSource("workers", "--stack", stack.name, "--json")) as Listed;
      // A worker publishes its current steps with its heartbeat: the step shows up at the next one.
      let listed = await list();
      for (let i = 0; i < 10 && !listed.find((w) => w.pid === pid)?.current.some((c) => c.invocationId === "marked"); i++) {
        await new Promise((r) => setTimeout(r, 500));
        listed = await list();
      }
      expect(listed.map((w) => w.id).sort()).toEqual(workers.map((w) => w.id).sort());
      expect(listed.every((w) => w.capacity.cpus > 0)).toBe(true);
      // (An in-process step abandoned by a timeout may still be listed: it runs until it returns.)
      expect(listed.find((w) => w.pid === pid)!.current.map((c) => c.invocationId)).toContain("marked");
    } finally {
      fx.release(dir, pid);
    }
    expect((await running).status).toBe("completed");
    const table = await weirSource("workers", "--stack", stack.name);
    for (const w of workers) expect(table).toContain(w.id);
  }, 30_000);

  it("holds a step no live worker can give, says why, and runs it once a worker can", async () => {
    const running = fx.needsBig.run({}, { stack, enableCache: false });
    const store = await openMetadataStore();
    const runId = async () => (await store.listRuns({})).find((r) => r.pipelineName === "queue_needs_big")?.id;
    const why = async () => {
      const id = await runId();
      const logs = id ? await store.listLogs(id) : [];
      return logs.map((l) => l.message).find((m) => m.startsWith("waiting:"));
    };
    await until("the waiting reason", async () => (await why()) !== undefined);
    const reason = /^waiting: no live worker can give cpu=16 \(live workers: .*cpu=\d+,memory=.*\)$/;
    expect(await why()).toMatch(reason);
    // The reason is also on the step run's record, so `weir runs show` (and --json) say it.
    const id = (await runId())!;
    await until("the recorded waiting reason", async () => (await store.listStepRuns(id))[0]?.metadata.waiting !== undefined);
    const shown = await weirSource("runs", "show", id);
    expect(shown).toMatch(/^big: waiting: no live worker can give cpu=16 \(live workers: .*\) \(since .+\)$/m);
    type Shown = { steps: { name: string; metadata: { waiting?: { reason: string; since: number } } }[] };
    const json = JSON.parse(await weirSource("runs", "show", id, "--json")) as Shown;
    expect(json.steps[0].metadata.waiting).toMatchObject({ reason: expect.stringMatching(reason), since: expect.any(Number) });
    const bigWorker = await startWorker(["--stack", stack.name, "--resources", "cpu=16,memory=4GB"]);
    try {
      const run = await running;
      expect(run.error).toBe(null);
      expect(await run.output()).toBe("ran with 16 CPUs");
      expect(run.steps[0].metadata.queue).toMatchObject({ worker: bigWorker.id });
      expect(run.steps[0].metadata.waiting).toBeUndefined(); // cleared when it started
      expect(await weirSource("runs", "show", id)).not.toContain("waiting:");
    } finally {
      await bigWorker.kill();
    }
  }, 60_000);

  it('orchestrates the run on a worker with orchestrateIn: "worker" (followed, or detached)', async () => {
    const remote = stackOf("queue-remote", { orchestrateIn: "worker" });
    const run = await fx.dynamicWhere.run({}, { stack: remote, enableCache: false });
    expect(run.error).toBe(null);
    const pids = (await run.output()) as number[];
    expect(pids.every((pid) => workers.some((w) => w.process.pid === pid))).toBe(true);
    const record = (await (await openMetadataStore()).getRun(run.id))!;
    // The run's owner is the worker process that drove it, not this one.
    expect(workers.map((w) => String(w.process.pid))).toContain(record.owner!.split(":")[1]);

    process.env.WEIR_DETACH = "1";
    let detached;
    try {
      detached = await fx.dynamicWhere.run({}, { stack: remote, enableCache: false });
    } finally {
      delete process.env.WEIR_DETACH;
    }
    expect(["initializing", "running"]).toContain(detached.status);
    const client = new Client();
    await until("the detached run to complete", async () => (await client.getRun(detached.id)).status === "completed");
  }, 60_000);
});

describe("queue orchestrator with a worker in process mode", () => {
  const procPrefix = uniquePrefix("queue-proc");
  const procStack = new Stack({
    name: "queue-proc",
    orchestrator: new QueueOrchestrator({ redisUrl: REDIS_URL, prefix: procPrefix }),
    artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts-proc") }),
  });
  let procWorker: StartedWorker;

  beforeAll(async () => {
    await (await openMetadataStore()).saveStack({ name: procStack.name, components: procStack.components() });
    procWorker = await startWorker(["--stack", procStack.name, "--mode", "process"]);
  }, 60_000);
  afterAll(async () => {
    await procWorker?.kill();
    await deleteKeys(procPrefix);
  });

  it("runs each attempt in a step process of its own, streaming items and logs back", async () => {
    const run = await fx.dynamicWhere.run({}, { stack: procStack, enableCache: false });
    expect(run.error).toBe(null);
    const [a, b] = (await run.output()) as number[];
    expect(a).not.toBe(procWorker.process.pid);
    expect(a).not.toBe(b);
    const logs = await new Client().getLogs(run.id, "where");
    expect(logs.map((l) => [l.stream, l.message])).toContainEqual(["log", "where am I"]);
  }, 60_000);
});

/** Runs `weir ARGS…` from the source tree, as the workers are. */
function weirSource(...args: string[]): Promise<string> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", tsx, "test/worker/weir-source.ts", ...args], { env: process.env }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}
