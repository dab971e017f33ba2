import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { QueueOrchestrator, Stack } from "weir";
import { openMetadataStore } from "../../src/config/home.js";
import { deleteKeys, killAllWorkers, REDIS_URL, startWorker, uniquePrefix } from "../worker/workers.js";
import { orchestratorConformance } from "./orchestrator.conformance.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-queue-orch-"));

// Every test file has its own prefix on the shared Redis, deleted at the end.
const prefix = uniquePrefix("conf");
const config = { redisUrl: REDIS_URL, prefix };

beforeAll(async () => {
  // The workers find Redis through a registered queue stack; each attempt's artifact store
  // comes from the stack its run was submitted on.
  const store = await openMetadataStore();
  await store.saveStack({ name: "queue-workers", components: new Stack({ name: "queue-workers", orchestrator: new QueueOrchestrator(config) }).components() });
  // Two workers: one runs attempts in-process, the other a step process per attempt.
  await Promise.all([startWorker(["--stack", "queue-workers", "--concurrency", "4"]), startWorker(["--stack", "queue-workers", "--mode", "process"])]);
}, 60_000);

afterAll(async () => {
  await killAllWorkers();
  await deleteKeys(prefix);
});

orchestratorConformance("queue", () => new QueueOrchestrator(config));
