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
      "--artifact-store", artifacts,
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
  });

  it("runs on the active stack, writing to its artifact store", async () => {
    const run = await weir(home, "run", "examples/static-pipeline.ts");
    expect(run.code).toBe(0);
    const artifacts = await weir(home, "artifacts", "list", "--name", "static_pipeline::load_data::output");
    const id = /│ ([0-9a-f]{12}) │/.exec(artifacts.stdout)?.[1];
    const artifact = await weir(home, "artifacts", "show", id ?? "missing");
    expect(artifact.stdout).toContain(`uri:          ${join(home, "fast-artifacts")}`);
  });

  it("rejects unknown flavors, stacks and bad configuration", async () => {
    const [flavor, set, config, duplicate] = await Promise.all([
      weir(home, "stack", "register", "x", "--orchestrator", "warp-drive"),
      weir(home, "stack", "set", "nope"),
      weir(home, "stack", "register", "y", "--orchestrator", "local", "--orchestrator-config", "{oops"),
      weir(home, "stack", "register", "default", "--orchestrator", "local"),
    ]);
    expectUserError(flavor, /unknown orchestrator flavor "warp-drive" \(known: local\b/);
    expectUserError(set, 'no stack named "nope" is registered (known: default, fast)');
    expectUserError(config, "--orchestrator-config is not valid JSON");
    expectUserError(duplicate, 'a stack named "default" is already registered');
  });
});
