import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, LocalArtifactStore, QueueOrchestrator, Stack } from "weir";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { killAllWorkers, startWorker } from "../worker/workers.js";
import * as fx from "../worker/fixtures/queue-pipelines.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-queue-restart-"));
const tmp = mkdtempSync(join(tmpdir(), "weir-queue-restart-data-"));

// A Redis of this test's own (the shared one on 6379 must not be restarted), without
// persistence: a restart loses every key, the worst case.
const port = 20_000 + (process.pid % 20_000);
const redisUrl = `redis://127.0.0.1:${port}`;
function startRedis(): void {
  execFileSync("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes", "--dir", tmp, "--logfile", join(tmp, "redis.log")]);
  for (let i = 0; i < 100; i++) {
    try {
      if (execFileSync("redis-cli", ["-p", String(port), "ping"]).toString().trim() === "PONG") return;
    } catch {
      // not up yet
    }
    execFileSync("sleep", ["0.05"]);
  }
  throw new Error(`redis-server on port ${port} did not start`);
}
function stopRedis(): void {
  try {
    execFileSync("redis-cli", ["-p", String(port), "shutdown", "nosave"]);
  } catch {
    // already gone (shutdown closes the connection before redis-cli reads a reply)
  }
}

const stack = new Stack({
  name: "queue-restart",
  orchestrator: new QueueOrchestrator({ redisUrl, prefix: "restart", lockDurationMs: 2_000, stalledIntervalMs: 1_000, heartbeatMs: 300 }),
  artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts") }),
});

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  startRedis();
  await (await openMetadataStore()).saveStack({ name: stack.name, components: stack.components() });
});
afterAll(async () => {
  await killAllWorkers();
  stopRedis();
  await closeMetadataStores();
});

describe("queue orchestrator and a Redis restart", () => {
  it("completes a run when Redis restarts (losing its data) while one step runs and another waits", async () => {
    const dir = mkdtempSync(join(tmp, "run-"));
    const small = await startWorker(["--stack", stack.name, "--resources", "cpu=2"]);
    const running = fx.restartable.run({ dir }, { stack, enableCache: false });
    await until("the held step to start", () => fx.marks(dir, "started").includes(small.process.pid!));
    // The 16-CPU step waits in its queue: no worker can give it.
    const store = await openMetadataStore();
    const runId = (await store.listRuns({})).find((r) => r.pipelineName === "queue_restartable")!.id;
    const logged = async (pattern: RegExp) => (await store.listLogs(runId)).some((l) => pattern.test(l.message));
    await until("the waiting reason", () => logged(/^waiting: no live worker can give cpu=16/));

    stopRedis();
    startRedis();
    // The waiting job was lost with Redis' data; the engine enqueues it again.
    await until("the lost job to be enqueued again", () => logged(/^Redis no longer has the job of attempt 1 \(was it restarted\?\); enqueued it again$/));
    fx.release(dir, small.process.pid!);
    const bigWorker = await startWorker(["--stack", stack.name, "--resources", "cpu=16"]);

    const run = await running;
    expect(run.error).toBe(null);
    expect(await run.output()).toEqual([small.process.pid, "ran with 16 CPUs"]);
    expect(run.steps.find((s) => s.name === "big")!.metadata.queue).toMatchObject({ worker: bigWorker.id });
    expect(run.steps.every((s) => s.status === "completed" && s.attempts === 1)).toBe(true);
    // The attempt that ran through the restart was neither lost nor enqueued again.
    expect(await new Client().getLogs(run.id, "marked")).toEqual([]);
  }, 60_000);
});
