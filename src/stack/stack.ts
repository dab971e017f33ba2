import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { StackError } from "../authoring/errors.js";
import { weirHome } from "../config/home.js";
import type { BaseOrchestrator } from "../orchestrators/base.js";
import type { ArtifactStore } from "../stores/artifacts/types.js";
import type { ComponentRecord, MetadataStore, StackRecord } from "../stores/metadata/types.js";
import { createArtifactStore, createOrchestrator } from "./flavors.js";

export { registerArtifactStoreFlavor, registerOrchestratorFlavor, orchestratorFlavorNames, artifactStoreFlavorNames } from "./flavors.js";

export interface StackOptions {
  name: string;
  orchestrator: BaseOrchestrator;
  /** Defaults to the local artifact store under WEIR_HOME. */
  artifactStore?: ArtifactStore;
  containerRegistry?: { name: string; uri: string };
}

export type ComponentInput = Omit<ComponentRecord, "id">;

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
  components(): ComponentInput[] {
    const components: ComponentInput[] = [
      {
        type: "orchestrator",
        name: this.orchestrator.name,
        flavor: this.orchestrator.flavor,
        config: withoutName(this.orchestrator.config),
      },
      artifactStoreComponent(this.artifactStore),
    ];
    if (this.containerRegistry) {
      components.push({ type: "container_registry", name: this.containerRegistry.name, flavor: "default", config: { uri: this.containerRegistry.uri } });
    }
    return components;
  }
}

/** An artifact store as its component row: its own `config()` when it has one, else the local store's root. */
export function artifactStoreComponent(store: ArtifactStore): ComponentInput {
  const config = plainConfig(store.config());
  return { type: "artifact_store", name: store.name, flavor: store.flavor, config };
}

export function defaultArtifactStore(home = weirHome()): ArtifactStore {
  return createArtifactStore("local", { path: resolve(home, "artifacts") }, "default");
}

/** The stack that needs no set-up: in-process orchestrator, local files, embedded SQLite. */
export function defaultStack(home = weirHome()): Stack {
  return new Stack({ name: "default", orchestrator: createOrchestrator("local", {}, "default"), artifactStore: defaultArtifactStore(home) });
}

/** Rebuilds a registered stack from its component rows (through the flavor registries, config checked). */
export function stackFromRecord(record: StackRecord | { name: string; components: ComponentInput[] }, home = weirHome()): Stack {
  const orchestratorRow = record.components.find((c) => c.type === "orchestrator");
  if (!orchestratorRow) throw new StackError(`stack "${record.name}" has no orchestrator`);
  const storeRow = record.components.find((c) => c.type === "artifact_store");
  const registry = record.components.find((c) => c.type === "container_registry");
  try {
    return new Stack({
      name: record.name,
      orchestrator: createOrchestrator(orchestratorRow.flavor, orchestratorRow.config, orchestratorRow.name),
      artifactStore: storeRow ? createArtifactStore(storeRow.flavor, storeRow.config, storeRow.name) : defaultArtifactStore(home),
      containerRegistry: registry ? { name: registry.name, uri: String(registry.config.uri) } : undefined,
    });
  } catch (error) {
    if (error instanceof StackError) throw new StackError(`stack "${record.name}": ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * The stack a run uses, and the name its runs record: a Stack object (registered so its
 * runs stay readable and resumable), a registered stack by name, or the active stack
 * (default: `default`).
 */
export async function resolveStackForRun(
  store: MetadataStore,
  stack: string | Stack | undefined,
  home = weirHome(),
): Promise<{ stack: Stack; recordedAs: string }> {
  if (stack instanceof Stack) return { stack, recordedAs: await registerStack(store, stack.name, stack.components()) };
  const name = stack ?? (await store.getActiveStackName()) ?? "default";
  const record = await store.getStack(name);
  if (record) return { stack: stackFromRecord(record, home), recordedAs: name };
  if (name === "default") {
    const created = defaultStack(home);
    return { stack: created, recordedAs: await registerStack(store, created.name, created.components()) };
  }
  const known = (await store.listStacks()).map((s) => s.name);
  throw new StackError(`no stack named "${name}" is registered (known: ${["default", ...known.filter((k) => k !== "default")].join(", ")})`);
}

export async function resolveStack(store: MetadataStore, stack: string | Stack | undefined, home = weirHome()): Promise<Stack> {
  return (await resolveStackForRun(store, stack, home)).stack;
}

// ---- registering without replacing ------------------------------------------------------
// A component row is never changed once written: runs (and the artifact versions they wrote)
// refer to it. A component whose name is taken by a row with other content is registered
// under a name derived from its content (`default-3f9a2c1d`); the same content always gets
// the same name, so registering a stack again reuses its rows. Stacks built in code follow
// the same rule for their own name, so `new Stack({ name: "default", … })` cannot replace
// the default stack either.

/**
 * Registers a stack built in code (or its content) and returns the name it is recorded
 * under: `name` when free or identical, otherwise a name derived from the content.
 */
export async function registerStack(store: MetadataStore, name: string, components: ComponentInput[]): Promise<string> {
  const rows = await componentRows(store);
  const claimed = components.map((c) => ({ ...c, name: claimComponentName(rows, c) }));
  let recordedAs = name;
  const existing = await store.getStack(name);
  if (existing && !sameComponents(existing.components, claimed)) {
    recordedAs = `${name}-${contentHash(claimed.map(identity))}`;
  }
  if (recordedAs !== name || !existing) await store.saveStack({ name: recordedAs, components: claimed });
  return recordedAs;
}

/** Points a registered stack at new components (`weir stack update`), never changing an existing row. */
export async function replaceStackComponents(store: MetadataStore, name: string, components: ComponentInput[]): Promise<StackRecord> {
  const rows = await componentRows(store);
  return store.saveStack({ name, components: components.map((c) => ({ ...c, name: claimComponentName(rows, c) })) });
}

/** Every component row (the stores' `listComponents` when present, else the rows stacks use). */
export async function componentRows(store: MetadataStore): Promise<ComponentRecord[]> {
  const listComponents = (store as { listComponents?: () => Promise<ComponentRecord[]> }).listComponents;
  if (typeof listComponents === "function") return listComponents.call(store);
  const byId = new Map<string, ComponentRecord>();
  for (const stack of await store.listStacks()) for (const c of stack.components) byId.set(c.id, c);
  return [...byId.values()];
}

function claimComponentName(rows: ComponentRecord[], component: ComponentInput): string {
  const taken = rows.find((r) => r.type === component.type && r.name === component.name);
  if (!taken || sameContent(taken, component)) return component.name;
  return `${component.name}-${contentHash([component.type, component.flavor, component.config])}`;
}

function sameContent(a: ComponentInput, b: ComponentInput): boolean {
  return a.flavor === b.flavor && stableJson(a.config) === stableJson(b.config);
}

function sameComponents(a: ComponentInput[], b: ComponentInput[]): boolean {
  return a.length === b.length && a.every((c, i) => stableJson(identity(c)) === stableJson(identity(b[i])));
}

function identity(c: ComponentInput): unknown[] {
  return [c.type, c.name, c.flavor, c.config];
}

function contentHash(value: unknown): string {
  return createHash("sha256").update(stableJson(value)).digest("hex").slice(0, 8);
}

/** JSON with object keys sorted, so equal configs compare (and hash) equal. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** A component's config as recorded: its name has a column of its own. */
export function withoutName(config: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...rest } = plainConfig(config);
  return rest;
}

function plainConfig(config: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config ?? {}));
}
