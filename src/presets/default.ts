// The default preset: the wiring of the built-in backends, outside the core (as Hono's
// presets pick routers). The core registries (stack/flavors.ts, the pipeline runner seam in
// authoring/pipeline.ts) import no implementation; `weir`'s index, the CLI and the entry
// points of launched processes import this module. Another preset (a team's backends) is a
// module like this one.
import { z } from "zod";
import { registerPipelineRunner, type PipelineRunner } from "../authoring/pipeline.js";
import { localConfigSchema, LocalOrchestrator } from "../orchestrators/local/local-orchestrator.js";
import { localProcessConfigSchema, LocalProcessOrchestrator } from "../orchestrators/local-process/local-process-orchestrator.js";
import { QueueOrchestrator, type QueueOrchestratorConfig } from "../orchestrators/queue/queue-orchestrator.js";
import { registerArtifactStoreFlavor, registerOrchestratorFlavor } from "../stack/flavors.js";
import { LocalArtifactStore } from "../stores/artifacts/local/local-artifact-store.js";
import { s3ArtifactStoreFlavor } from "../stores/artifacts/s3/s3-artifact-store.js";
import { preloadSqliteStore } from "../stores/metadata/open.js";

registerOrchestratorFlavor("local", (config) => new LocalOrchestrator(config), { schema: localConfigSchema.strict() });
registerOrchestratorFlavor("local_process", (config) => new LocalProcessOrchestrator(config), { schema: localProcessConfigSchema.strict() });
// The queue orchestrator checks its own config ({ redisUrl, prefix?, orchestrateIn? }) when built, naming the key.
registerOrchestratorFlavor("queue", (config) => new QueueOrchestrator(config as QueueOrchestratorConfig));
registerArtifactStoreFlavor("local", (config, name) => new LocalArtifactStore({ path: String(config.path), name }), {
  schema: z.object({ path: z.string({ required_error: "is required (the folder of the store)", invalid_type_error: "must be a path" }).min(1, "must not be empty") }),
});
// The S3 store validates its own config (bucket, prefix, endpoint, region, forcePathStyle), naming the field.
registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);
// The runner (submission, the engine, schedules) is loaded with weir, except in step processes
// (entrypoints/step-process.ts): they import this preset through weir's package entry but never
// submit a run, and loading the runner was a good part of their boot. There it is loaded on
// first use; everywhere else a run does not pay for loading it.
if ((globalThis as Record<symbol, unknown>)[Symbol.for("weir.stepProcess")]) {
  const runner = (): Promise<PipelineRunner> => import("../api/run.js").then((module) => module.pipelineRunner);
  registerPipelineRunner({
    run: async (...args) => (await runner()).run(...args),
    compile: async (...args) => (await runner()).compile(...args),
    resume: async (...args) => (await runner()).resume(...args),
    schedule: async (...args) => (await runner()).schedule(...args),
  });
} else {
  registerPipelineRunner((await import("../api/run.js")).pipelineRunner);
  // The default store is SQLite: its module (and driver) loads with weir, not in the first
  // run, unless WEIR_STORE_URL names another kind of store.
  const url = process.env.WEIR_STORE_URL;
  if (url === undefined || url.startsWith("sqlite:")) await preloadSqliteStore();
}
