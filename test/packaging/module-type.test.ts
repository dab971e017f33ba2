import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectOk, tempProject, weirIn } from "./cli.js";

// A pipeline file as a new user writes it: ES module syntax, a local helper imported the
// TypeScript way ("./helper.js" is helper.ts), and "weir" imported by name although the
// folder does not install it (the CLI's own copy answers).
const PIPELINE_FILES = {
  "pipeline.ts": `
import { pipeline, step } from "weir";
import { greet } from "./helper.js";

const hello = step(function hello(name: string): string {
  return greet(name);
});
export const greeting = pipeline(function greeting() {
  return hello("ada");
});
`,
  "helper.ts": "export const greet = (name: string): string => `hello ${name}`;\n",
};

const FOLDERS: Record<string, Record<string, string>> = {
  "without package.json": {},
  'with a package.json without "type"': { "package.json": JSON.stringify({ name: "plain" }) },
  'with "type": "commonjs"': { "package.json": JSON.stringify({ name: "cjs", type: "commonjs" }) },
};

describe("weir run FILE.ts from any folder", () => {
  for (const [label, extra] of Object.entries(FOLDERS)) {
    it(`runs a pipeline file in a folder ${label}`, async () => {
      const cwd = tempProject("weir-module-type-", { ...PIPELINE_FILES, ...extra });
      const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
      const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.ts"));
      expect(result.stdout).toContain('"hello ada"');
      expect(result.stderr).not.toContain("require()");
    });
  }

  it('runs its steps in step processes too (local_process, "type": "commonjs")', async () => {
    const cwd = tempProject("weir-module-type-", { ...PIPELINE_FILES, ...FOLDERS['with "type": "commonjs"'] });
    const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
    expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
    const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.ts", "--stack", "processes"));
    expect(result.stdout).toContain('"hello ada"');
  });
});

// The same in plain JavaScript: a .js file written with import/export, which Node would
// detect as an ES module, but the TypeScript loader would turn into require() calls.
const JS_PIPELINE_FILES = {
  "pipeline.js": `
import { pipeline, step } from "weir";
import { greet } from "./helper.js";

const hello = step(function hello(name) {
  return greet(name);
});
export const greeting = pipeline(function greeting() {
  return hello("ada");
});
`,
  "helper.js": "export const greet = (name) => `hello ${name}`;\n",
};

describe("weir run FILE.js (ES module syntax) from any folder", () => {
  for (const [label, extra] of Object.entries(FOLDERS)) {
    it(`runs it in-process and in step processes in a folder ${label}`, async () => {
      const cwd = tempProject("weir-module-type-js-", { ...JS_PIPELINE_FILES, ...extra });
      const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
      const here = expectOk(await weirIn({ cwd, home }, "run", "pipeline.js"));
      expect(here.stdout).toContain('"hello ada"');
      expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
      const isolated = expectOk(await weirIn({ cwd, home }, "run", "pipeline.js", "--stack", "processes"));
      expect(isolated.stdout).toContain('"hello ada"');
    });
  }
});
