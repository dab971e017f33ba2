/**
 * A process that writes to a shared metadata store the way an engine does, for the
 * several-writers tests: `node --import tsx metadata-writer.process.ts URL SHARED_RUN_ID START_AT STEPS`.
 * Prints one JSON line: what it wrote and whether it won the shared run's lease.
 */
import { randomUUID } from "node:crypto";
import { openStore } from "../../src/stores/metadata/open.js";

const [url, sharedRunId, startAt, stepsArg] = process.argv.slice(2);
const steps = Number(stepsArg);
const store = await openStore(url);
const me = `writer-${process.pid}`;

// Start together, so that the writes really interleave.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));

// The same pipeline name in every process: get-or-create must not fail or duplicate it.
const snapshot = await store.createSnapshot({
  pipelineName: "shared",
  isDynamic: true,
  parameters: {},
  source: { module: "./p.js" },
  spec: null,
});
const run = await store.createRun({
  name: `shared-${me}`,
  pipelineName: "shared",
  snapshotId: snapshot.id,
  stackName: "default",
  isDynamic: true,
  enableCache: false,
  owner: me,
  heartbeatAt: Date.now(),
});
const claimed = store.claimRun(sharedRunId, me, 0);

// Fire the writes without waiting, as the engine does; every output is a version of one name.
const writes: Promise<unknown>[] = [];
const versionIds: string[] = [];
for (let i = 0; i < steps; i++) {
  const id = randomUUID();
  const versionId = randomUUID();
  versionIds.push(versionId);
  writes.push(
    store.createStepRun({ id, runId: run.id, invocationId: `s_${i}`, stepName: "s", position: i, upstream: [], parameters: {} }),
  );
  writes.push(store.updateStepRun(id, { status: "running", attempt: 1, startedAt: Date.now() }));
  writes.push(
    store.completeStepRun({
      stepRunId: id,
      attempt: 1,
      status: "completed",
      endedAt: Date.now(),
      newArtifacts: [
        {
          id: versionId,
          artifactName: "shared::s::output",
          uri: `file:///x/${versionId}`,
          dataType: "number",
          materializer: "json",
          contentHash: "h",
          size: 1,
        },
      ],
      outputs: [{ artifactVersionId: versionId, outputName: "output", mappingKey: null, position: 0 }],
    }),
  );
  writes.push(store.appendLogs([{ runId: run.id, stepRunId: id, stream: "log", message: `s_${i}`, at: Date.now() }]));
  // A few awaited writes, so that batches of different processes alternate.
  if (i % 25 === 24) await Promise.all(writes);
}
writes.push(store.updateRun(run.id, { status: "completed", endedAt: Date.now() }));
await Promise.all(writes);
process.stdout.write(`${JSON.stringify({ runId: run.id, claimed: await claimed, versionIds })}\n`);
await store.close();
