import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Client, step, StepDefinitionError } from "weir";
import { useTempHome } from "../helpers.js";
import { expectOk, tempProject, weirIn } from "../packaging/cli.js";

const home = useTempHome("weir-cache-policy-");
// The CLI runs in a temp project on its home's own SQLite store (weirIn drops WEIR_STORE_URL),
// so this process reads that store too, also in the PostgreSQL pass of the suite.
delete process.env.WEIR_STORE_URL;

// A user's project: the steps call a helper that imports another local file. One step
// keeps the default policy (its source and the local files its module imports), the
// other pins its cache with a cacheVersion.
const project = tempProject("weir-cache-policy-project-", {
  "package.json": JSON.stringify({ name: "cache-policy", type: "module" }),
  "pipeline.ts": `
import { pipeline, step } from "weir";
import { greet } from "./lib/helper.js";

const hashed = step(function hashed_greet(name: string): string {
  return greet(name);
});
const pinned = step({ cacheVersion: "v1" }, function pinned_greet(name: string): string {
  return greet(name);
});
export const greetings = pipeline(function greetings() {
  return [hashed("ada"), pinned("ada")];
});
`,
  "lib/helper.ts": `import { WORD } from "./words.js";\nexport const greet = (name: string): string => \`\${WORD} \${name}\`;\n`,
  "lib/words.ts": `export const WORD = "hello";\n`,
});

async function run(runName: string) {
  expectOk(await weirIn({ cwd: project, home }, "run", "pipeline.ts", "--run-name", runName));
  const view = await new Client().getRun(runName);
  const status = (name: string) => view.steps.find((s) => s.name === name)?.status;
  return { hashed: status("hashed_greet"), pinned: status("pinned_greet"), output: await view.output() };
}

describe("cache policy", () => {
  it("invalidates a step when a file its module imports changes, unless the step has a cacheVersion", async () => {
    expect(await run("first")).toEqual({ hashed: "completed", pinned: "completed", output: ["hello ada", "hello ada"] });
    expect(await run("unchanged")).toEqual({ hashed: "cached", pinned: "cached", output: ["hello ada", "hello ada"] });

    // An edit two imports away from the step's module.
    writeFileSync(join(project, "lib/words.ts"), `export const WORD = "hi";\n`);
    expect(await run("helper-changed")).toEqual({ hashed: "completed", pinned: "cached", output: ["hi ada", "hello ada"] });
  });

  it("refuses a cacheVersion that is not a string, naming the step", () => {
    expect(() => step({ cacheVersion: 1 as never }, function versioned() {})).toThrow(StepDefinitionError);
    expect(() => step({ cacheVersion: 1 as never }, function versioned() {})).toThrow(/step "versioned": cacheVersion must be a string/);
  });
});
