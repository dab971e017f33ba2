import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectUserError, tempHome, weir } from "./weir.js";

const home = tempHome();

describe("weir stack", () => {
  it("registers, activates, lists and describes stacks", async () => {
    const artifacts = join(home, "fast-artifacts");
    const register = await weir(
      home,
      "stack", "register", "fast",
      "--orchestrator", "local",
      "--orchestrator-config", '{"maxParallel":2}',
      "--artifact-store", "local",
      "--artifact-store-config", JSON.stringify({ path: artifacts }),
    );
    expect(register.code).toBe(0);
    expect(register.stdout).toContain('registered stack "fast"');

    const set = await weir(home, "stack", "set", "fast");
    expect(set.code).toBe(0);
    expect(set.stdout).toContain("active stack: fast");

    const [list, describeActive] = await Promise.all([weir(home, "stack", "list"), weir(home, "stack", "describe")]);
    expect(list.stdout).toMatch(/│ \*\s+│ fast\s+│ fast \(local\)/);
    expect(list.stdout).toMatch(/│\s+│ default\s+│/);
    expect(describeActive.stdout).toMatch(/stack:\s+fast/);
    expect(describeActive.stdout).toMatch(/active:\s+yes/);
    expect(describeActive.stdout).toContain('{"maxParallel":2}');
    expect(describeActive.stdout).toContain(`{"path":"${artifacts}"}`);

    const [listJson, describeJson, componentsJson] = await Promise.all([
      weir(home, "stack", "list", "--json"),
      weir(home, "stack", "describe", "fast", "--json"),
      weir(home, "stack", "component", "list", "--json"),
    ]);
    const stacks = JSON.parse(listJson.stdout) as { name: string; active: boolean }[];
    expect(stacks.find((s) => s.name === "fast")?.active).toBe(true);
    const described = JSON.parse(describeJson.stdout) as { name: string; components: { type: string; flavor: string; config: unknown }[] };
    expect(described.components.find((c) => c.type === "artifact_store")).toMatchObject({ flavor: "local", config: { path: artifacts } });
    const components = JSON.parse(componentsJson.stdout) as { type: string; stacks: string[] }[];
    expect(components.filter((c) => c.stacks.includes("fast")).map((c) => c.type).sort()).toEqual(["artifact_store", "orchestrator"]);
  });

  it("runs on the active stack, writing to its artifact store", async () => {
    const run = await weir(home, "run", "examples/static-pipeline.ts");
    expect(run.code).toBe(0);
    const artifacts = await weir(home, "artifacts", "list", "--name", "static_pipeline::load_data::output");
    const id = /│ ([0-9a-f]{12}) │/.exec(artifacts.stdout)?.[1];
    const artifact = await weir(home, "artifacts", "show", id ?? "missing");
    expect(artifact.stdout).toContain(`uri:          ${join(home, "fast-artifacts")}`);
  });

  it("rejects unknown flavors, stacks and bad configuration, naming the key", async () => {
    const [flavor, set, config, duplicate, zero, unknownKey, storeFlavor, storeConfig] = await Promise.all([
      weir(home, "stack", "register", "x", "--orchestrator", "warp-drive"),
      weir(home, "stack", "set", "nope"),
      weir(home, "stack", "register", "y", "--orchestrator", "local", "--orchestrator-config", "{oops"),
      weir(home, "stack", "register", "default", "--orchestrator", "local"),
      weir(home, "stack", "register", "z", "--orchestrator", "local", "--orchestrator-config", '{"maxParallel":0}'),
      weir(home, "stack", "register", "z", "--orchestrator", "local_process", "--orchestrator-config", '{"cpu":2}'),
      weir(home, "stack", "register", "z", "--orchestrator", "local", "--artifact-store", "/tmp/folder"),
      weir(home, "stack", "register", "z", "--orchestrator", "local", "--artifact-store", "local", "--artifact-store-config", "{}"),
    ]);
    expectUserError(flavor, /unknown orchestrator flavor "warp-drive" \(known: local\b/);
    expectUserError(set, 'no stack named "nope" is registered (known: default, fast)');
    expectUserError(config, "--orchestrator-config is not valid JSON");
    expectUserError(duplicate, 'a stack named "default" is already registered');
    expectUserError(zero, 'stack "z": orchestrator "z" (local): config "maxParallel" must be ≥ 1, got 0');
    expectUserError(unknownKey, /orchestrator "z" \(local_process\): config key "cpu" is unknown \(known: name, maxParallel, cpus, memory, gpus, echoOutput\)/);
    expectUserError(storeFlavor, `unknown artifact store flavor "/tmp/folder" (known: local, s3); a folder is --artifact-store local`);
    expectUserError(storeConfig, 'artifact store "z" (local): config "path" is required');
    // Nothing was registered by a refused command.
    expect((await weir(home, "stack", "list")).stdout).not.toMatch(/│ z\s/);
  });

  it("updates a stack without changing what other stacks and earlier runs use", async () => {
    const before = await weir(home, "stack", "describe", "default");
    const update = await weir(home, "stack", "update", "fast", "--orchestrator-config", '{"maxParallel":4}');
    expect(update.code).toBe(0);
    expect(update.stdout).toContain('updated stack "fast"');
    const [fast, defaults, components] = await Promise.all([
      weir(home, "stack", "describe", "fast"),
      weir(home, "stack", "describe", "default"),
      weir(home, "stack", "component", "list"),
    ]);
    expect(fast.stdout).toContain('{"maxParallel":4}');
    // The artifact store of "fast" is unchanged: its runs' artifacts stay where they are.
    expect(fast.stdout).toContain(`{"path":"${join(home, "fast-artifacts")}"}`);
    expect(defaults.stdout.split("\n").slice(3).join("\n")).toBe(before.stdout.split("\n").slice(3).join("\n"));
    // The row "fast" had other content, so the new config is a row of its own; the old one is left as it was.
    expect(components.stdout).toMatch(/│ orchestrator\s+│ fast-[0-9a-f]{8}\s+│ local\s+│ \{"maxParallel":4\}\s+│ fast\s+│/);
    expect(components.stdout).toMatch(/│ artifact_store\s+│ default\s+│ local\s+│ .*│ default\s+│/);

    const [nothing, bad] = await Promise.all([
      weir(home, "stack", "update", "fast"),
      weir(home, "stack", "update", "fast", "--orchestrator", "local_process", "--orchestrator-config", '{"gpus":-1}'),
    ]);
    expectUserError(nothing, "weir stack update needs at least one of");
    expectUserError(bad, 'config "gpus" must be a whole number ≥ 0, got -1');
  });

  it("deletes a stack that is not active", async () => {
    const [active, builtIn, missing] = await Promise.all([
      weir(home, "stack", "delete", "fast"),
      weir(home, "stack", "delete", "default"),
      weir(home, "stack", "delete", "nope"),
    ]);
    expectUserError(active, 'stack "fast" is the active stack; switch first (weir stack set default)');
    expectUserError(builtIn, 'the "default" stack cannot be deleted');
    expectUserError(missing, 'no stack named "nope" is registered');
    expect((await weir(home, "stack", "set", "default")).code).toBe(0);
    const deleted = await weir(home, "stack", "delete", "fast");
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('deleted stack "fast"');
    const list = await weir(home, "stack", "list");
    expect(list.stdout).not.toMatch(/│ fast\s/);
    // Runs made on it still show, naming the stack they ran on.
    expect((await weir(home, "runs", "list")).code).toBe(0);
  });
});
