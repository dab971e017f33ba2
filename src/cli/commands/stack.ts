import type { Command } from "commander";
import { errorMessage } from "../../authoring/errors.js";
import { openMetadataStore, weirHome } from "../../config/home.js";
import { artifactStoreFlavorNames, orchestratorFlavorNames } from "../../stack/flavors.js";
import {
  artifactStoreComponent as storeComponent,
  componentRows,
  defaultArtifactStore,
  registerStack,
  replaceStackComponents,
  resolveStack,
  stackFromRecord,
  withoutName,
  type ComponentInput,
} from "../../stack/stack.js";
import type { ComponentRecord, MetadataStore, StackRecord } from "../../stores/metadata/types.js";
import type { ApiStack } from "../../server/types.js";
import { CliError, details, formatTime, printJson, table, withJsonOption } from "../output.js";
import { refuseThroughServer, remoteServer } from "../remote.js";

interface ComponentFlags {
  orchestrator?: string;
  orchestratorConfig?: string;
  artifactStore?: string;
  artifactStoreConfig?: string;
}

export function registerStackCommands(program: Command): void {
  const stack = program.command("stack").description("register, list, switch, update and delete stacks");

  withJsonOption(stack.command("list"))
    .description("registered stacks (* marks the active one)")
    .action(async (flags: { json?: boolean }) => {
      const stacks = await listStacks();
      if (flags.json) return printJson(stacks);
      const rows = stacks.map((s) => [s.active ? "*" : "", s.name, componentSummary(s, "orchestrator"), componentSummary(s, "artifact_store")]);
      console.log(table(["active", "name", "orchestrator", "artifact store"], rows));
    });

  withComponentOptions(
    stack
      .command("register")
      .description("register a stack: an orchestrator and an artifact store, each a flavor with its config")
      .argument("<name>", "stack name"),
  ).action(async (name: string, flags: ComponentFlags) => {
    refuseThroughServer("stack register");
    if (!flags.orchestrator) throw new CliError("weir stack register needs --orchestrator FLAVOR");
    const store = await registeredDefault();
    if (await store.getStack(name)) throw new CliError(`a stack named "${name}" is already registered (change it with: weir stack update ${name} …)`);
    const components = [
      orchestratorComponent(name, flags.orchestrator, parseConfig("--orchestrator-config", flags.orchestratorConfig)),
      flags.artifactStore
        ? artifactStoreComponent(name, flags.artifactStore, parseConfig("--artifact-store-config", flags.artifactStoreConfig))
        : defaultArtifactStoreComponent(flags),
    ];
    checkUsable(name, components);
    const recordedAs = await registerStack(store, name, components);
    console.log(`registered stack "${recordedAs}" (set it active with: weir stack set ${recordedAs})`);
  });

  withComponentOptions(
    stack
      .command("update")
      .description("change a registered stack's orchestrator or artifact store (flavor, config or both)")
      .argument("<name>", "stack name"),
  ).action(async (name: string, flags: ComponentFlags) => {
    refuseThroughServer("stack update");
    const store = await registeredDefault();
    const record = await requireStack(store, name);
    if (!flags.orchestrator && !flags.orchestratorConfig && !flags.artifactStore && !flags.artifactStoreConfig) {
      throw new CliError("weir stack update needs at least one of --orchestrator, --orchestrator-config, --artifact-store, --artifact-store-config");
    }
    const components: ComponentInput[] = record.components.map(({ id: _id, ...c }) => c);
    const replace = (type: ComponentRecord["type"], flavor: string | undefined, configText: string | undefined, make: typeof orchestratorComponent) => {
      const at = components.findIndex((c) => c.type === type);
      const current = components[at];
      if (!flavor && !configText) return;
      const nextFlavor = flavor ?? current?.flavor;
      if (!nextFlavor) throw new CliError(`stack "${name}" has no ${type.replace("_", " ")}: give its flavor too`);
      // A new flavor starts from an empty config; the same flavor keeps its config unless a new one is given.
      const config = configText !== undefined ? parseConfig(`--${type.replace("_", "-")}-config`, configText) : nextFlavor === current?.flavor ? current.config : {};
      const next = make(name, nextFlavor, config);
      if (at === -1) components.push(next);
      else components[at] = next;
    };
    replace("orchestrator", flags.orchestrator, flags.orchestratorConfig, orchestratorComponent);
    replace("artifact_store", flags.artifactStore, flags.artifactStoreConfig, artifactStoreComponent);
    checkUsable(name, components);
    const updated = await replaceStackComponents(store, name, components);
    console.log(`updated stack "${name}"`);
    console.log(componentTable(updated.components));
  });

  stack
    .command("delete")
    .description("delete a registered stack (its runs keep their records; component rows stay for them)")
    .argument("<name>", "stack name")
    .action(async (name: string) => {
      refuseThroughServer("stack delete");
      const store = await registeredDefault();
      await requireStack(store, name);
      if (name === "default") throw new CliError('the "default" stack cannot be deleted (it is recreated whenever it is needed)');
      if ((await activeStackName(store)) === name) {
        throw new CliError(`stack "${name}" is the active stack; switch first (weir stack set default)`);
      }
      await store.deleteStack(name);
      console.log(`deleted stack "${name}"`);
    });

  stack
    .command("set")
    .description("make a registered stack the active one")
    .argument("<name>", "stack name")
    .action(async (name: string) => {
      refuseThroughServer("stack set");
      const store = await registeredDefault();
      await requireStack(store, name);
      await store.setActiveStack(name);
      console.log(`active stack: ${name}`);
    });

  withJsonOption(stack.command("describe"))
    .description("a stack's components and their configuration")
    .argument("[name]", "stack name (default: the active stack)")
    .action(async (name: string | undefined, flags: { json?: boolean }) => {
      const stacks = await listStacks();
      const wanted = name ?? stacks.find((s) => s.active)?.name ?? "default";
      const record = stacks.find((s) => s.name === wanted);
      if (!record) throw new CliError(`no stack named "${wanted}" is registered (known: ${stacks.map((s) => s.name).join(", ")})`);
      if (flags.json) return printJson(record);
      console.log(
        details([
          ["stack", record.name],
          ["active", record.active ? "yes" : "no"],
          ["created", formatTime(new Date(record.createdAt))],
        ]),
      );
      console.log(componentTable(record.components));
    });

  const component = stack.command("component").description("the components stacks are made of");
  withJsonOption(component.command("list"))
    .description("every registered component, with the stacks that use it")
    .action(async (flags: { json?: boolean }) => {
      // Component rows (with their ids) are not in the API.
      refuseThroughServer("stack component list");
      const store = await registeredDefault();
      const usedBy = new Map<string, string[]>();
      for (const s of await store.listStacks()) for (const c of s.components) usedBy.set(c.id, [...(usedBy.get(c.id) ?? []), s.name]);
      if (flags.json) return printJson((await componentRows(store)).map((c) => ({ ...c, stacks: usedBy.get(c.id) ?? [] })));
      const rows = (await componentRows(store))
        .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name))
        .map((c) => [c.type, c.name, c.flavor, JSON.stringify(c.config), (usedBy.get(c.id) ?? []).join(", ") || "-"]);
      console.log(table(["type", "name", "flavor", "config", "stacks"], rows));
    });
}

function withComponentOptions(command: Command): Command {
  return command
    .option("--orchestrator <flavor>", `orchestrator flavor (${orchestratorFlavorNames().join(", ")})`)
    .option("--orchestrator-config <json>", "orchestrator configuration as a JSON object")
    .option("--artifact-store <flavor>", `artifact store flavor (${artifactStoreFlavorNames().join(", ")}; default: the local store in WEIR_HOME/artifacts)`)
    .option("--artifact-store-config <json>", 'artifact store configuration as a JSON object, e.g. \'{"path":"/data/artifacts"}\'');
}

function orchestratorComponent(stackName: string, flavor: string, config: Record<string, unknown>): ComponentInput {
  const known = orchestratorFlavorNames();
  if (!known.includes(flavor)) throw new CliError(`unknown orchestrator flavor "${flavor}" (known: ${known.join(", ")})`);
  return { type: "orchestrator", name: typeof config.name === "string" && config.name ? config.name : stackName, flavor, config: withoutName(config) };
}

function artifactStoreComponent(stackName: string, flavor: string, config: Record<string, unknown>): ComponentInput {
  const known = artifactStoreFlavorNames();
  if (!known.includes(flavor)) {
    throw new CliError(
      `unknown artifact store flavor "${flavor}" (known: ${known.join(", ")}); ` +
        `a folder is --artifact-store local --artifact-store-config '{"path":"${flavor}"}'`,
    );
  }
  return { type: "artifact_store", name: stackName, flavor, config };
}

/** Building the stack once checks every component's configuration before anything is saved. */
function checkUsable(name: string, components: ComponentInput[]): void {
  try {
    stackFromRecord({ name, components });
  } catch (error) {
    // The message names the stack and the component (stackFromRecord's errors do).
    throw new CliError(errorMessage(error), { cause: error });
  }
}

async function requireStack(store: MetadataStore, name: string): Promise<StackRecord> {
  const record = await store.getStack(name);
  if (record) return record;
  const known = (await store.listStacks()).map((s) => s.name).join(", ");
  throw new CliError(`no stack named "${name}" is registered (known: ${known})`);
}

/** The store, with the default stack registered: it exists for every home, set up or not. */
async function registeredDefault(): Promise<MetadataStore> {
  const store = await openMetadataStore();
  await resolveStack(store, "default");
  return store;
}

/** Registered stacks, `active` marking one: through the server under WEIR_SERVER_URL, else from the store. */
async function listStacks(): Promise<ApiStack[]> {
  const server = remoteServer();
  if (server) return server.listStacks();
  const store = await registeredDefault();
  const active = await activeStackName(store);
  return (await store.listStacks()).map((s) => ({ ...s, active: s.name === active }));
}

async function activeStackName(store: MetadataStore): Promise<string> {
  return (await store.getActiveStackName()) ?? "default";
}

function componentSummary(stack: ApiStack, type: ComponentRecord["type"]): string {
  const component = stack.components.find((c) => c.type === type);
  if (!component) return "-";
  const path = typeof component.config.path === "string" ? ` ${component.config.path}` : "";
  return `${component.name} (${component.flavor})${path}`;
}

function componentTable(components: ComponentInput[]): string {
  return table(
    ["type", "name", "flavor", "config"],
    components.map((c) => [c.type, c.name, c.flavor, JSON.stringify(c.config)]),
  );
}

function defaultArtifactStoreComponent(flags: ComponentFlags): ComponentInput {
  if (flags.artifactStoreConfig) throw new CliError("--artifact-store-config needs --artifact-store FLAVOR");
  return storeComponent(defaultArtifactStore(weirHome()));
}

function parseConfig(flag: string, text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${flag} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new CliError(`${flag} must be a JSON object, e.g. '{"maxParallel": 2}'`);
  }
  return config as Record<string, unknown>;
}
