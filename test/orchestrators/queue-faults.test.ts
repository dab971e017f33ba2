import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client, LocalArtifactStore, QueueOrchestrator, Stack, type PipelineRun } from "weir";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { deleteKeys, killAllWorkers, REDIS_URL, startWorker, uniquePrefix } from "../worker/workers.js";
import * as fx from "../worker/fixtures/queue-pipelines.js";
import { startWeir } from "../cli/weir.js";
import { Redis } from "ioredis";
import { attemptJobId } from "../../src/orchestrators/queue/config.js";
import { classQueueName, requestOfSettings } from "../../src/orchestrators/queue/resources.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-queue-faults-"));
const tmp = mkdtempSync(join(tmpdir(), "weir-queue-faults-data-"));

// Short locks and a fast stalled-job check, so a dead worker's job moves on within seconds.
const prefix = uniquePrefix("faults");
const stack = new Stack({
  name: "queue-faults",
  orchestrator: new QueueOrchestrator({ redisUrl: REDIS_URL, prefix, lockDurationMs: 1_500, stalledIntervalMs: 500, heartbeatMs: 300 }),
  artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts") }),
});
const worker = (...args: string[]) => startWorker(["--stack", stack.name, ...args]);
// The same queues, with starts held back for long: a driver can die before it hears of one.
// (An orchestrator component of its own name: saveStack replaces a name's config.)
const lazyStack = new Stack({
  name: "queue-faults-lazy",
  orchestrator: new QueueOrchestrator({ ...(stack.orchestrator as QueueOrchestrator).queueConfig, name: "queue-faults-lazy", startedDelayMs: 60_000 }),
  artifactStore: stack.artifactStore,
});

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Lets the held step finish on its worker; the resumed run completes with one execution, one attempt. */
async function expectRanOnce(dir: string, pid: number, resumed: Promise<PipelineRun>): Promise<void> {
  fx.release(dir, pid);
  const run = await resumed;
  expect(run.status).toBe("completed");
  expect(await run.output()).toBe(pid);
  // The resume did not start the step again.
  expect(fx.marks(dir, "ran")).toEqual([pid]);
  expect(run.steps[0].attempts).toBe(1);
}

beforeAll(async () => {
  const store = await openMetadataStore();
  await store.saveStack({ name: stack.name, components: stack.components() });
  await store.saveStack({ name: lazyStack.name, components: lazyStack.components() });
});
afterEach(killAllWorkers);
afterAll(async () => {
  await killAllWorkers();
  await deleteKeys(prefix);
  await closeMetadataStores();
});

describe("queue orchestrator faults", () => {
  it("runs an attempt again on another worker when its worker is SIGKILLed mid-step, and records the loss", async () => {
    const dir = mkdtempSync(join(tmp, "killed-"));
    const a = await worker();
    const running = fx.heldOne.run({ dir }, { stack, enableCache: false });
    await until("the step to start on the first worker", () => fx.marks(dir, "started").includes(a.process.pid!));
    const b = await worker();
    await a.kill("SIGKILL");
    await until("the step to start again on the second worker", () => fx.marks(dir, "started").includes(b.process.pid!));
    fx.release(dir, b.process.pid!);
    const run = await running;
    expect(run.error).toBe(null);
    expect(await run.output()).toBe(b.process.pid);
    const step = run.steps[0];
    // Same attempt (the engine's retries are untouched); the lost execution is on record.
    expect(step.attempts).toBe(1);
    expect(step.metadata.queue).toMatchObject({ worker: b.id, lostExecutions: [{ worker: a.id }] });
    const logs = await new Client().getLogs(run.id, "marked");
    expect(logs.map((l) => l.message)).toContainEqual(`attempt 1 was lost on worker ${a.id} (it stopped renewing its job); running it again on worker ${b.id}`);
  }, 60_000);

  it("ignores the late result of an execution that was superseded", async () => {
    const dir = mkdtempSync(join(tmp, "late-"));
    const a = await worker();
    const running = fx.heldOne.run({ dir }, { stack, enableCache: false });
    await until("the step to start on the first worker", () => fx.marks(dir, "started").includes(a.process.pid!));
    // A frozen worker stops renewing its lock: the job goes to the other worker.
    a.process.kill("SIGSTOP");
    const b = await worker();
    try {
      await until("the step to start again on the second worker", () => fx.marks(dir, "started").includes(b.process.pid!));
    } finally {
      a.process.kill("SIGCONT");
    }
    // The first execution wakes up, finishes and reports while the second still runs.
    fx.release(dir, a.process.pid!);
    await until("the first execution to finish", () => fx.marks(dir, "done").includes(a.process.pid!));
    // Its report travels on the stream within milliseconds; give it time to arrive first.
    await new Promise((resolve) => setTimeout(resolve, 500));
    fx.release(dir, b.process.pid!);
    const run = await running;
    expect(run.error).toBe(null);
    expect(await run.output()).toBe(b.process.pid);
    expect(run.steps[0].metadata.queue).toMatchObject({ worker: b.id, lostExecutions: [{ worker: a.id }] });
  }, 60_000);

  it("resumes the run on another worker when the worker orchestrating it dies", async () => {
    const dir = mkdtempSync(join(tmp, "orchestrator-"));
    const remote = new Stack({
      name: "queue-faults-remote",
      orchestrator: new QueueOrchestrator({ ...(stack.orchestrator as QueueOrchestrator).queueConfig, orchestrateIn: "worker" }),
      artifactStore: stack.artifactStore,
    });
    const a = await worker();
    const running = fx.heldOne.run({ dir }, { stack: remote, enableCache: false });
    // Worker a drives the run and runs its step.
    await until("the step to start on the first worker", () => fx.marks(dir, "started").includes(a.process.pid!));
    const b = await worker();
    await a.kill("SIGKILL");
    await until("the step to start again on the second worker", () => fx.marks(dir, "started").includes(b.process.pid!));
    fx.release(dir, b.process.pid!);
    const run = await running;
    expect(run.error).toBe(null);
    expect(await run.output()).toBe(b.process.pid);
    const record = (await (await openMetadataStore()).getRun(run.id))!;
    expect(record.owner).toMatch(new RegExp(`:${b.process.pid}$`));
    // The attempt that died with the first orchestrator is on record; the second one counted.
    expect(run.steps[0].attempts).toBe(2);
    expect(run.steps[0].metadata.queue).toMatchObject({ worker: b.id });
  }, 60_000);

  it("resume follows a step still running on a worker after its driver was SIGKILLed, instead of running it again", async () => {
    const dir = mkdtempSync(join(tmp, "adopt-"));
    const a = await worker();
    // The engine runs in a `weir run` process of its own, which is killed mid-step.
    const driver = startWeir(process.env.WEIR_HOME!, "run", "test/worker/fixtures/queue-pipelines.ts", "--pipeline", "queue_held_counted", "--stack", stack.name, "--param", `dir=${dir}`);
    await until("the step to start on the worker", () => fx.marks(dir, "ran").length === 1);
    // Killed once the driver has recorded the attempt as running (a worker reports a start
    // lazily, up to STARTED_DELAY_MS after it, so a tiny step's start rides with its result).
    const store = await openMetadataStore();
    await until("the driver to record the step running", async () => {
      const run = (await store.listRuns({})).find((r) => r.pipelineName === "queue_held_counted" && r.status === "running");
      return run !== undefined && (await store.listStepRuns(run.id)).some((s) => s.status === "running");
    });
    driver.child.kill("SIGKILL");
    const { stdout } = await driver.result;
    const runId = /^run:\s+(\S+)$/m.exec(stdout)![1];

    const resumed = fx.heldCounted.resume(runId);
    await until("the resume to follow the running attempt", async () =>
      (await store.listLogs(runId)).some((l) => /attempt 1 is still running \(started before the resume\): following it/.test(l.message)),
    );
    await expectRanOnce(dir, a.process.pid!, resumed);
  }, 60_000);

  it("resume joins a step still running on a worker whose start its killed driver never heard of, instead of running it again", async () => {
    const dir = mkdtempSync(join(tmp, "unheard-"));
    const a = await startWorker(["--stack", lazyStack.name]);
    const driver = startWeir(process.env.WEIR_HOME!, "run", "test/worker/fixtures/queue-pipelines.ts", "--pipeline", "queue_held_counted", "--stack", lazyStack.name, "--param", `dir=${dir}`);
    await until("the step to start on the worker", () => fx.marks(dir, "ran").length === 1);
    const store = await openMetadataStore();
    const recorded = async () => {
      const run = (await store.listRuns({})).find((r) => r.pipelineName === "queue_held_counted" && r.stackName === lazyStack.name);
      return run ? await store.listStepRuns(run.id) : [];
    };
    // The worker holds the start back: on record the step has not started.
    expect((await recorded()).map((s) => s.status)).toEqual(["pending"]);
    driver.child.kill("SIGKILL");
    const { stdout } = await driver.result;
    const runId = /^run:\s+(\S+)$/m.exec(stdout)![1];
    // The resume launches the same attempt, so the same job id: BullMQ keeps the live job,
    // and the resume takes its reports from the run's stream.
    const resumed = fx.heldCounted.resume(runId);
    const jobId = attemptJobId((await recorded())[0].id, 1);
    const events = `${prefix}:${classQueueName(requestOfSettings({}))}:events`;
    const redis = new Redis(REDIS_URL);
    try {
      await until("BullMQ to keep the live job for the resume's launch", async () => {
        const entries = (await redis.xrange(events, "-", "+")) as [string, string[]][];
        return entries.some(([, f]) => f.includes("duplicated") && f.includes(jobId));
      });
    } finally {
      redis.disconnect();
    }
    await expectRanOnce(dir, a.process.pid!, resumed);
  }, 60_000);

  it("maps no key twice when the worker of a streaming producer dies", async () => {
    const dir = mkdtempSync(join(tmp, "stream-"));
    const a = await worker();
    const keys = ["k1", "k2", "k3"];
    const running = fx.streaming.run({ dir, keys }, { stack, enableCache: false });
    await until("the first item", () => existsSync(join(dir, `yield-k1-${a.process.pid}`)));
    // The first item is mapped (its step run exists) before the producer's worker dies.
    const store = await openMetadataStore();
    await until("the first mapped step", async () => {
      const runs = await store.listRuns({});
      const stepRuns = runs.length > 0 ? await store.listStepRuns(runs.find((r) => r.pipelineName === "queue_streaming")!.id) : [];
      return stepRuns.some((s) => s.invocationId === "consume[k1]");
    });
    const b = await worker();
    await a.kill("SIGKILL");
    writeFileSync(join(dir, "gate"), "");
    const run = await running;
    expect(run.error).toBe(null);
    expect(await run.output()).toBe("K1,K2,K3");
    // The second execution yielded k1 again; it was not mapped again.
    expect(fx.marks(dir, "yield-k1").sort()).toEqual([a.process.pid, b.process.pid].sort());
    const mapped = run.steps.filter((s) => s.stepName === "consume").map((s) => s.name);
    expect(mapped.sort()).toEqual(["consume[k1]", "consume[k2]", "consume[k3]"]);
  }, 60_000);
});
