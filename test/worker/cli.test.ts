import { execFile } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { deleteKeys, killAllWorkers, REDIS_URL, startWorker, uniquePrefix } from "./workers.js";

const home = mkdtempSync(join(tmpdir(), "weir-queue-cli-"));
const prefix = uniquePrefix("cli");

/** The built `weir` command (faster to start than from source; workers run from source, see workers.ts). */
function weir(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync("dist/cli/main.js")) throw new Error("the CLI tests run the built CLI: run `npm run build` first");
  return new Promise((done) => {
    execFile(process.execPath, ["bin/weir.js", ...args], { env: { ...process.env, WEIR_HOME: home, WEIR_DEBUG: "" } }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

afterAll(async () => {
  await killAllWorkers();
  await closeMetadataStores();
  await deleteKeys(prefix);
});

describe("weir worker, weir workers and weir run --detach", () => {
  it("registers a queue stack, refuses a bad config, and runs a detached run on a worker", async () => {
    const config = JSON.stringify({ redisUrl: REDIS_URL, prefix, orchestrateIn: "worker" });
    const registered = await weir("stack", "register", "remote", "--orchestrator", "queue", "--orchestrator-config", config);
    expect(registered.stderr).toBe("");
    // (CLI start-ups from source are slow on a loaded machine: independent ones run together.)
    const [bad, none, badFlag] = await Promise.all([
      weir("stack", "register", "broken", "--orchestrator", "queue", "--orchestrator-config", '{"redisUrl":"localhost"}'),
      weir("workers", "--stack", "remote"),
      weir("worker", "--stack", "remote", "--resources", "cpu=lots"),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('stack "broken": orchestrator "broken" (queue): "redisUrl" must be a redis:// or rediss:// URL');
    expect(none.stdout).toContain(`no live workers on ${REDIS_URL} (prefix ${prefix})`);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toContain('--resources: "cpu=lots" must be cpu=N with N > 0');

    const worker = await startWorker(["--stack", "remote", "--resources", "cpu=2,memory=2GB"], { WEIR_HOME: home });
    const listed = await weir("workers", "--stack", "remote");
    expect(listed.stdout).toContain(worker.id);
    expect(listed.stdout).toContain("cpu=2,memory=2GB,gpu=0");

    const started = Date.now();
    const run = await weir("run", "test/worker/fixtures/queue-pipelines.ts", "--pipeline", "queue_dynamic_where", "--stack", "remote", "--detach", "--no-cache");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^status:\s+(initializing|running)/m);
    const runId = /^run:\s+(\S+)$/m.exec(run.stdout)![1];
    const store = await openMetadataStore(home);
    while ((await store.getRun(runId))?.status !== "completed") {
      if (Date.now() - started > 30_000) throw new Error(`the detached run did not complete: ${JSON.stringify(await store.getRun(runId))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const shown = (await weir("runs", "show", runId)).stdout;
    expect(shown).toMatch(/where_2\s+│\s+where\s+│\s+completed/);
  }, 90_000);
});
