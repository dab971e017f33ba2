import { resolve } from "node:path";
import { StackError } from "../authoring/errors.js";
import { weirHome } from "../config/home.js";
import type { BaseOrchestrator } from "../orchestrators/base.js";
import { LocalOrchestrator } from "../orchestrators/local/local-orchestrator.js";
import { LocalProcessOrchestrator } from "../orchestrators/local-process/local-process-orchestrator.js";
import { QueueOrchestrator, type QueueOrchestratorConfig } from "../orchestrators/queue/queue-orchestrator.js";
import { LocalArtifactStore } from "../stores/artifacts/local/local-artifact-store.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { ComponentRecord, MetadataStore, StackRecord } from "../stores/metadata/types.js";

export interface StackOptions {
  name: string;
  orchestrator: BaseOrchestrator;
  /** Defaults to the local artifact store under WEIR_HOME. */
  artifactStore?: ArtifactStore;
  containerRegistry?: { name: string; uri: string };
}

/** Named components a pipeline runs on: an orchestrator, an artifact store, optionally a registry. */
export class Stack {
  readonly name: string;
  readonly orchestrator: BaseOrchestrator;
  readonly artifactStore: ArtifactStore;
  readonly containerRegistry: { name: string; uri: string } | undefined;

  constructor(options: StackOptions) {
    if (!options?.name) throw new StackError("a Stack needs a name");
    if (!options.orchestrator) throw new StackError(`stack "${options.name}" needs an orchestrator`);
    this.name = options.name;
    this.orchestrator = options.orchestrator;
    this.artifactStore = options.artifactStore ?? defaultArtifactStore();
    this.containerRegistry = options.containerRegistry;
  }

  /** The component rows this stack is registered as. */
  components(): Omit<ComponentRecord, "id">[] {
    const components: Omit<ComponentRecord, "id">[] = [
      {
        type: "orchestrator",
        name: this.orchestrator.name,
        flavor: this.orchestrator.flavor,
        config: plainConfig(this.orchestrator.config),
      },
      {
        type: "artifact_store",
        name: this.artifactStore.name,
        flavor: this.artifactStore.flavor,
        config: { path: this.artifactStore.root },
      },
    ];
    if (this.containerRegistry) {
      components.push({ type: "container_registry", name: this.containerRegistry.name, flavor: "default", config: { uri: this.containerRegistry.uri } });
    }
    return components;
  }
}

export function defaultArtifactStore(home = weirHome()): ArtifactStore {
  return new LocalArtifactStore({ path: resolve(home, "artifacts"), name: "default" });
}

/** The stack that needs no set-up: in-process orchestrator, local files, embedded SQLite. */
export function defaultStack(home = weirHome()): Stack {
  return new Stack({ name: "default", orchestrator: new LocalOrchestrator({ name: "default" }), artifactStore: defaultArtifactStore(home) });
}

// ---- flavors: how registered component rows become objects ---------------------------

type OrchestratorFactory = (config: Record<string, unknown>) => BaseOrchestrator;
type ArtifactStoreFactory = (config: Record<string, unknown>, name: string) => ArtifactStore;

const orchestratorFlavors = new Map<string, OrchestratorFactory>([
  ["local", (config) => new LocalOrchestrator(config)],
  ["local_process", (config) => new LocalProcessOrchestrator(config)],
  ["queue", (config) => new QueueOrchestrator(config as QueueOrchestratorConfig)],
]);
const artifactStoreFlavors = new Map<string, ArtifactStoreFactory>([
  ["local", (config, name) => new LocalArtifactStore({ path: String(config.path), name })],
]);

/** Makes a flavor usable in registered stacks (`weir stack register --orchestrator FLAVOR`). */
export function registerOrchestratorFlavor(flavor: string, factory: OrchestratorFactory): void {
  orchestratorFlavors.set(flavor, factory);
}
export function registerArtifactStoreFlavor(flavor: string, factory: ArtifactStoreFactory): void {
  artifactStoreFlavors.set(flavor, factory);
}
export function orchestratorFlavorNames(): string[] {
  return [...orchestratorFlavors.keys()];
}

export function stackFromRecord(record: StackRecord, home = weirHome()): Stack {
  const orchestratorRow = record.components.find((c) => c.type === "orchestrator");
  if (!orchestratorRow) throw new StackError(`stack "${record.name}" has no orchestrator`);
  const makeOrchestrator = orchestratorFlavors.get(orchestratorRow.flavor);
  if (!makeOrchestrator) {
    throw new StackError(
      `stack "${record.name}": orchestrator flavor "${orchestratorRow.flavor}" is unknown here (known: ${[...orchestratorFlavors.keys()].join(", ")})`,
    );
  }
  const storeRow = record.components.find((c) => c.type === "artifact_store");
  let artifactStore: ArtifactStore = defaultArtifactStore(home);
  if (storeRow) {
    const makeStore = artifactStoreFlavors.get(storeRow.flavor);
    if (!makeStore) throw new StackError(`stack "${record.name}": artifact store flavor "${storeRow.flavor}" is unknown here`);
    artifactStore = makeStore(storeRow.config, storeRow.name);
  }
  const registry = record.components.find((c) => c.type === "container_registry");
  return new Stack({
    name: record.name,
    orchestrator: makeOrchestrator({ ...orchestratorRow.config, name: orchestratorRow.name }),
    artifactStore,
    containerRegistry: registry ? { name: registry.name, uri: String(registry.config.uri) } : undefined,
  });
}

/**
 * The stack a run uses: a Stack object as given (and registered so its runs stay
 * readable), a registered stack by name, or the active stack (default: `default`).
 */
export async function resolveStack(store: MetadataStore, stack: string | Stack | undefined, home = weirHome()): Promise<Stack> {
  if (stack instanceof Stack) {
    await store.saveStack({ name: stack.name, components: stack.components() });
    return stack;
  }
  const name = stack ?? (await store.getActiveStackName()) ?? "default";
  const record = await store.getStack(name);
  if (record) return stackFromRecord(record, home);
  if (name === "default") {
    const created = defaultStack(home);
    await store.saveStack({ name: created.name, components: created.components() });
    return created;
  }
  const known = (await store.listStacks()).map((s) => s.name);
  throw new StackError(`no stack named "${name}" is registered (known: ${["default", ...known.filter((k) => k !== "default")].join(", ")})`);
}

function plainConfig(config: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config ?? {}));
}
