// The public API of weir (see README and API.md). The preset wires in the built-in
// backends (local orchestrators, local artifact store) and the pipeline runner.
import "./presets/default.js";
export { step, type Step, type DynamicStep, type StepOptions, type StepDefinition, type RetryPolicy, type StepSettings, type OutputHandle, type DynamicOutputHandle, type MappedHandle } from "./authoring/step.js";
export { pipeline, type Pipeline, type PipelineOptions, type PipelineHookInfo } from "./authoring/pipeline.js";
export { DynamicOutput } from "./authoring/dynamic-output.js";
export { unmapped, Unmapped } from "./authoring/handles.js";
export { getStepContext, type StepContext } from "./authoring/context.js";
export type { ResourceSettings, ResourceSettingsInput } from "./authoring/resources.js";
export * from "./authoring/errors.js";
export type { CompiledSnapshot, CompiledStep } from "./engine/compile.js";
export type { RunOptions } from "./api/run.js";
export type { PipelineRun, StepRunView } from "./client/run-view.js";
export { Client, type StepRunDetails } from "./client/client.js";
export { BaseOrchestrator, ContainerizedOrchestrator, type SubmissionResult, type OrchestratorConfig } from "./orchestrators/base.js";
export { LocalOrchestrator } from "./orchestrators/local/local-orchestrator.js";
export { LocalProcessOrchestrator, type LocalProcessOrchestratorConfig } from "./orchestrators/local-process/local-process-orchestrator.js";
export { QueueOrchestrator, type QueueOrchestratorConfig } from "./orchestrators/queue/queue-orchestrator.js";
export type { StepLauncher, StepTask, AttemptHooks, AttemptResult, AttemptChannel } from "./engine/launcher.js";
export { Stack, defaultStack, registerOrchestratorFlavor, registerArtifactStoreFlavor } from "./stack/stack.js";
export { LocalArtifactStore } from "./stores/artifacts/local/local-artifact-store.js";
export { S3ArtifactStore, type S3ArtifactStoreConfig } from "./stores/artifacts/s3/s3-artifact-store.js";
export type { ArtifactKey, ArtifactStore } from "./stores/artifacts/types.js";
export type { Materializer } from "./materializers/types.js";
export { registerMaterializer } from "./materializers/registry.js";
export type { MetadataStore, RunStatus, StepStatus } from "./stores/metadata/types.js";
