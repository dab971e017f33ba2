/**
 * Several real processes writing one metadata store at once (metadata-writer.process.ts):
 * no duplicate artifact versions, no lost writes, one pipeline row, one lease holder, no
 * deadlocks. Each backend's test file calls it with a URL of a fresh store.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "vitest";
import { openStore } from "../../src/stores/metadata/open.js";

const run = promisify(execFile);
const writer = fileURLToPath(new URL("./metadata-writer.process.ts", import.meta.url));

export async function checkConcurrentWriters(url: string, processes = 4, steps = 150): Promise<void> {
  const store = await openStore(url);
  try {
    const snapshot = await store.createSnapshot({
      pipelineName: "shared",
      isDynamic: true,
      parameters: {},
      source: { module: "./p.js" },
      spec: null,
    });
    const shared = await store.createRun({
      name: "leased",
      pipelineName: "shared",
      snapshotId: snapshot.id,
      stackName: "default",
      isDynamic: true,
      enableCache: false,
    });
    // Node and tsx take a while to start on a loaded machine: start together a little later.
    const startAt = Date.now() + 3_000;
    const outputs = await Promise.all(
      Array.from({ length: processes }, () =>
        run(process.execPath, ["--import", "tsx", writer, url, shared.id, String(startAt), String(steps)], {
          timeout: 120_000,
        }),
      ),
    );
    const results = outputs.map(({ stdout }) => JSON.parse(stdout.trim()) as { runId: string; claimed: boolean; versionIds: string[] });

    expect(results.filter((r) => r.claimed)).toHaveLength(1);
    const versions = await store.listArtifactVersions({ artifactName: "shared::s::output" });
    expect(versions).toHaveLength(processes * steps);
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: processes * steps }, (_, i) => i + 1),
    );
    // Each process's versions were numbered in its own call order.
    for (const result of results) {
      const numbers = await Promise.all(result.versionIds.map(async (id) => (await store.getArtifactVersion(id))!.version));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      const stepRuns = await store.listStepRuns(result.runId);
      expect(stepRuns.map((s) => s.status)).toEqual(Array.from({ length: steps }, () => "completed"));
      expect(await store.listLogs(result.runId)).toHaveLength(steps);
      expect((await store.getRun(result.runId))!.status).toBe("completed");
    }
    // One pipeline row for the name every process used.
    const runs = await store.listRuns({ pipelineName: "shared" });
    expect(runs).toHaveLength(processes + 1);
    expect(new Set(runs.map((r) => r.snapshotId)).size).toBe(processes + 1);
  } finally {
    await store.close();
  }
}
