import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, LocalOrchestrator, LocalProcessOrchestrator, pipeline, Stack, step } from "weir";

import { registerArtifactStoreFlavor } from "../../src/stores/artifacts/resolve.js";
import { S3ArtifactStore, s3ArtifactStoreFlavor } from "../../src/stores/artifacts/s3/s3-artifact-store.js";
import { sleep, useTempHome } from "../helpers.js";
import { s3InProcesses } from "./s3-process-pipelines.js";
import { startS3rver, type S3rverHandle } from "./s3rver.js";

const home = useTempHome("weir-s3-client-");
let server: S3rverHandle;
let artifacts: S3ArtifactStore;

beforeAll(async () => {
  server = await startS3rver(["team-artifacts"]);
  // What the default preset does for every process (the reader process below does it itself).
  registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);
  artifacts = new S3ArtifactStore({ name: "team", bucket: "team-artifacts", prefix: "weir", endpoint: server.endpoint, forcePathStyle: true });
});
afterAll(async () => {
  await artifacts?.close();
  await server?.stop();
});

const part = step(function part(i: number) {
  return { part: i, label: `part ${i}` };
});
const big = step(function big() {
  return "x".repeat(3 * 1024 * 1024);
});
const total = step(function total(parts: { part: number }[], text: string) {
  return parts.reduce((sum, p) => sum + p.part, 0) + text.length;
});
const fanOut = pipeline(function s3_fan_out() {
  const parts = Array.from({ length: 30 }, (_, i) => part(i));
  return total(parts, big());
});

const executions = new Map<number, number>();
/** Parts 4-7 finish only once the test has stopped the server. */
let serverStopped!: () => void;
const stopped = new Promise<void>((resolve) => (serverStopped = resolve));
const slowPart = step(async function slow_part(i: number) {
  executions.set(i, (executions.get(i) ?? 0) + 1);
  if (i >= 4) await stopped;
  return i * 10;
});
const sum = step(function sum(values: number[]) {
  return values.reduce((a, b) => a + b, 0);
});
const slowFanOut = pipeline(function s3_slow_fan_out() {
  return sum(Array.from({ length: 8 }, (_, i) => slowPart(i)));
});

/** Loads artifact versions through a Client in a fresh process that never saw the run. */
function loadInFreshProcess(ids: string[]): Promise<unknown[]> {
  const src = (file: string) => JSON.stringify(resolve("src", file));
  const script = join(home, "read-artifacts.mts");
  writeFileSync(
    script,
    `import { registerArtifactStoreFlavor } from ${src("stores/artifacts/resolve.ts")};
     import { s3ArtifactStoreFlavor } from ${src("stores/artifacts/s3/s3-artifact-store.ts")};
     import { Client } from ${src("client/client.ts")};
     registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);
     const client = new Client();
     const values = await Promise.all(${JSON.stringify(ids)}.map((id) => client.loadArtifact(id)));
     process.stdout.write(JSON.stringify(values));`,
  );
  return new Promise((done, fail) => {
    execFile(process.execPath, ["--import", "tsx", script], { env: { ...process.env, WEIR_HOME: home }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error ? fail(new Error(`reader process failed: ${stderr}`)) : done(JSON.parse(stdout) as unknown[]),
    );
  });
}

describe("a run on an S3 artifact store", () => {
  it("stores its values in the bucket, packed, and a process that never saw the run reads them back through the Client", async () => {
    const stack = new Stack({ name: "s3-team", orchestrator: new LocalOrchestrator({ name: "local" }), artifactStore: artifacts });
    const run = await fanOut.run({}, { stack, enableCache: false });
    expect(run.status).toBe("completed");

    const client = new Client();
    const outputOf = async (name: string) => (await client.getStepRun(run.id, name)).outputs[0].artifact;
    const versions = await Promise.all(["part", "part_2", "part_30", "big", "total"].map(outputOf));
    for (const version of versions) expect(version.uri.startsWith("s3://team-artifacts/weir/")).toBe(true);
    // The 31 small outputs ran concurrently and share pack objects; the large one has its own.
    const packs = new Set((await Promise.all(Array.from({ length: 30 }, (_, i) => outputOf(i === 0 ? "part" : `part_${i + 1}`)))).map((v) => v.uri.replace(/#.*$/, "")));
    expect(packs.size).toBeLessThan(30);
    expect(versions[3].uri).not.toContain("#");

    const values = await loadInFreshProcess(versions.map((v) => v.id));
    expect(values[0]).toEqual({ part: 0, label: "part 0" });
    expect(values[1]).toEqual({ part: 1, label: "part 1" });
    expect(values[2]).toEqual({ part: 29, label: "part 29" });
    expect((values[3] as string).length).toBe(3 * 1024 * 1024);
    expect(values[4]).toBe(435 + 3 * 1024 * 1024);
  }, 60_000);

  it("when the S3 server stops mid-run, steps fail with an error naming the store, and a resume completes without rerunning what completed", async () => {
    const stack = new Stack({ name: "s3-fault", orchestrator: new LocalOrchestrator({ name: "local" }), artifactStore: artifacts });
    // Four parts finish at once; the server dies while the other four are still running.
    const running = slowFanOut.run({}, { stack, enableCache: false, runName: "s3-fault-run" });
    const client = new Client();
    const name = (i: number) => (i === 0 ? "slow_part" : `slow_part_${i + 1}`);
    const done = async () => {
      const parts = await Promise.all([0, 1, 2, 3].map((i) => client.getStepRun("s3-fault-run", name(i)).catch(() => undefined)));
      return parts.every((p) => p?.status === "completed");
    };
    while (!(await done())) await sleep(20);
    await server.kill();
    serverStopped();
    const failed = await running;
    expect(failed.status).toBe("failed");
    const parts = await Promise.all(Array.from({ length: 8 }, (_, i) => client.getStepRun(failed.id, name(i))));
    const completed = parts.filter((p) => p.status === "completed").map((p) => p.name);
    const broken = parts.filter((p) => p.status === "failed");
    expect(completed).toEqual(["slow_part", "slow_part_2", "slow_part_3", "slow_part_4"]);
    expect(broken.length).toBe(4);
    for (const part of broken) expect(part.error).toContain(`S3 artifact store "team" (s3://team-artifacts/weir at ${server.endpoint})`);
    // A failed save recorded no output.
    for (const part of broken) expect(part.outputs).toEqual([]);

    await server.restart();
    const resumed = await slowFanOut.resume(failed.id, { stack });
    expect(resumed.status).toBe("completed");
    expect(await resumed.output()).toBe(280);
    // The parts that had completed were not run again; the failed ones ran once more.
    expect([...executions.entries()].sort((a, b) => a[0] - b[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => [i, i < 4 ? 1 : 2]));
  }, 60_000);

  it("runs steps in step processes (local_process) that rebuild the S3 store from its recorded config", async () => {
    const stack = new Stack({ name: "s3-processes", orchestrator: new LocalProcessOrchestrator({ echoOutput: false }), artifactStore: artifacts });
    const run = await s3InProcesses.run({}, { stack, enableCache: false });
    expect(run.error).toBe(null);
    const { sum, pids } = (await run.output()) as { sum: number; pids: number[] };
    expect(sum).toBe(12);
    expect(new Set([...pids, process.pid]).size).toBe(4);
    const output = (await new Client().getStepRun(run.id, "s3_double_2")).outputs[0].artifact;
    expect(output.uri.startsWith("s3://team-artifacts/weir/")).toBe(true);
  }, 60_000);
});
