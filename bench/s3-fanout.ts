/**
 * The fan-out workload of bench/run.ts (dynamic, n parallel steps + fan-in) on the local
 * orchestrator with the S3 artifact store (s3rver on loopback, started here) and the default
 * SQLite metadata store, every step run and artifact recorded, caching off. "cold" is the first
 * run in this process (SDK loaded, connections opened during it), "warm" the second.
 *
 *   node --import tsx bench/s3-fanout.ts [--n 1000] [--max-parallel 64] [--local]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { LocalOrchestrator, Stack } from "weir";

import { registerArtifactStoreFlavor } from "../src/stores/artifacts/resolve.js";
import { S3ArtifactStore, s3ArtifactStoreFlavor } from "../src/stores/artifacts/s3/s3-artifact-store.js";
import { startS3rver } from "../test/stores/s3rver.js";
import { workloads } from "./workloads.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { n: { type: "string", default: "1000" }, "max-parallel": { type: "string", default: "64" }, local: { type: "boolean", default: false } },
  });
  const n = Number(values.n);
  // 64 is the local orchestrator's default. Each step waits for its PUT, so a pack holds at
  // most this many values: the cost per step is about one PUT's latency / maxParallel.
  const maxParallel = Number(values["max-parallel"]);
  const workload = workloads.fan_out;
  const server = await startS3rver(["bench"]);
  registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);
  const artifacts = new S3ArtifactStore({ name: "bench", bucket: "bench", endpoint: server.endpoint, forcePathStyle: true });
  const orchestrator = new LocalOrchestrator({ name: "local", maxParallel });
  // --local: the same run on local artifact files, for comparison on the same machine and load.
  const stack = values.local ? undefined : new Stack({ name: "bench-s3", orchestrator, artifactStore: artifacts });
  const homes: string[] = [];
  try {
    console.log(`fan_out ${n.toLocaleString("en-US")} (${workload.stepRuns(n).toLocaleString("en-US")} step runs), SQLite + ${values.local ? "local artifacts" : `S3 (s3rver on ${server.endpoint})`}, maxParallel ${maxParallel}`);
    for (const label of ["cold", "warm"]) {
      const home = mkdtempSync(join(tmpdir(), "weir-bench-s3-"));
      homes.push(home);
      process.env.WEIR_HOME = home;
      const start = performance.now();
      const run = await workload.pipeline.run({ n }, { stack, enableCache: false });
      const ms = performance.now() - start;
      if (run.status !== "completed") throw new Error(`run failed: ${run.error}`);
      console.log(`  ${label}: ${(ms / 1000).toFixed(2)} s, ${((ms * 1000) / workload.stepRuns(n)).toFixed(0)} µs/step`);
    }
  } finally {
    await artifacts.close();
    await server.stop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
