import type { Command } from "commander";
import { resolve } from "node:path";
import { errorMessage } from "../../authoring/errors.js";
import { openMetadataStore, weirHome } from "../../config/home.js";
import { defaultArtifactStore, orchestratorFlavorNames, resolveStack, stackFromRecord } from "../../stack/stack.js";
import type { ComponentRecord, MetadataStore, StackRecord } from "../../stores/metadata/types.js";
import { CliError, details, formatTime, table } from "../output.js";

export function registerStackCommands(program: Command): void {
  const stack = program.command("stack").description("register, list and switch stacks");

  stack
    .command("list")
    .description("registered stacks (* marks the active one)")
    .action(async () => {
      const store = await registeredDefault();
      const active = await activeStackName(store);
      const rows = (await store.listStacks()).map((s) => [
        s.name === active ? "*" : "",
        s.name,
        componentSummary(s, "orchestrator"),
        componentSummary(s, "artifact_store"),
      ]);
      console.log(table(["active", "name", "orchestrator", "artifact store"], rows));
    });

  stack
    .command("register")
    .description("register a stack made of an orchestrator flavor and a local artifact store")
    .argument("<name>", "stack name")
    .requiredOption("--orchestrator <flavor>", `orchestrator flavor (${orchestratorFlavorNames().join(", ")})`)
    .option("--orchestrator-config <json>", "orchestrator configuration as a JSON object", "{}")
    .option("--artifact-store <path>", "folder of a local artifact store (default: WEIR_HOME/artifacts)")
    .action(async (name: string, flags: { orchestrator: string; orchestratorConfig: string; artifactStore?: string }) => {
      const flavors = orchestratorFlavorNames();
      if (!flavors.includes(flags.orchestrator)) {
        throw new CliError(`unknown orchestrator flavor "${flags.orchestrator}" (known: ${flavors.join(", ")})`);
      }
      const config = parseConfig(flags.orchestratorConfig);
      const store = await registeredDefault();
      if (await store.getStack(name)) throw new CliError(`a stack named "${name}" is already registered`);
      const components: Omit<ComponentRecord, "id">[] = [
        { type: "orchestrator", name: String(config.name ?? name), flavor: flags.orchestrator, config },
        flags.artifactStore
          ? { type: "artifact_store", name, flavor: "local", config: { path: resolve(flags.artifactStore) } }
          : defaultArtifactStoreComponent(),
      ];
      // Building the stack once checks the configuration before anything is saved.
      try {
        stackFromRecord({ name, components: components.map((c) => ({ ...c, id: "" })), createdAt: Date.now() });
      } catch (error) {
        throw new CliError(`stack "${name}" is not usable: ${errorMessage(error)}`, { cause: error });
      }
      await store.saveStack({ name, components });
      console.log(`registered stack "${name}" (set it active with: weir stack set ${name})`);
    });

  stack
    .command("set")
    .description("make a registered stack the active one")
    .argument("<name>", "stack name")
    .action(async (name: string) => {
      const store = await registeredDefault();
      if (!(await store.getStack(name))) {
        const known = (await store.listStacks()).map((s) => s.name).join(", ");
        throw new CliError(`no stack named "${name}" is registered (known: ${known})`);
      }
      await store.setActiveStack(name);
      console.log(`active stack: ${name}`);
    });

  stack
    .command("describe")
    .description("a stack's components and their configuration")
    .argument("[name]", "stack name (default: the active stack)")
    .action(async (name: string | undefined) => {
      const store = await registeredDefault();
      const active = await activeStackName(store);
      const record = await store.getStack(name ?? active);
      if (!record) throw new CliError(`no stack named "${name}" is registered (see weir stack list)`);
      console.log(
        details([
          ["stack", record.name],
          ["active", record.name === active ? "yes" : "no"],
          ["created", formatTime(new Date(record.createdAt))],
        ]),
      );
      console.log(
        table(
          ["type", "name", "flavor", "config"],
          record.components.map((c) => [c.type, c.name, c.flavor, JSON.stringify(c.config)]),
        ),
      );
    });
}

/** The store, with the default stack registered: it exists for every home, set up or not. */
async function registeredDefault(): Promise<MetadataStore> {
  const store = await openMetadataStore();
  await resolveStack(store, "default");
  return store;
}

async function activeStackName(store: MetadataStore): Promise<string> {
  return (await store.getActiveStackName()) ?? "default";
}

function componentSummary(stack: StackRecord, type: ComponentRecord["type"]): string {
  const component = stack.components.find((c) => c.type === type);
  if (!component) return "-";
  const path = typeof component.config.path === "string" ? ` ${component.config.path}` : "";
  return `${component.name} (${component.flavor})${path}`;
}

function defaultArtifactStoreComponent(): Omit<ComponentRecord, "id"> {
  const store = defaultArtifactStore(weirHome());
  return { type: "artifact_store", name: store.name, flavor: store.flavor, config: { path: store.root } };
}

function parseConfig(text: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--orchestrator-config is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new CliError("--orchestrator-config must be a JSON object, e.g. '{\"maxParallel\": 2}'");
  }
  return config as Record<string, unknown>;
}
