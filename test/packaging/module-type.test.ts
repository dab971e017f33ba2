import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { expectOk, tempProject, weirIn } from "./cli.js";

// A pipeline file as a new user writes it: ES module syntax, a local helper imported the
// TypeScript way ("./helper.js" is helper.ts) that itself defines a step, and "weir" imported
// by name although the folder does not install it (the CLI's own copy answers).
const PIPELINE_FILES = {
  "pipeline.ts": `
import { pipeline, step } from "weir";
import { greet, shout } from "./helper.js";

const hello = step(function hello(name: string): string {
  return greet(name);
});
export const greeting = pipeline(function greeting() {
  return shout(hello("ada"));
});
`,
  "helper.ts": `
import { step } from "weir";
export const greet = (name: string): string => \`hello \${name}\`;
export const shout = step(function shout(text: string): string {
  return text + "!";
});
`,
};

// TypeScript's CommonJS flavour: TypeScript makes its imports require() calls, and weir (ESM
// only) cannot be required on Node 20; weir loads the file as an ES module.
const CTS_FILES = {
  "pipeline.cts": `
import { pipeline, step } from "weir";
const hello = step(function hello(name: string): string {
  return \`hello \${name}\`;
});
export const greeting = pipeline(function greeting() {
  return hello("ada");
});
`,
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
      expect(result.stdout).toContain('"hello ada!"');
      expect(result.stderr).not.toContain("require()");
    });
  }

  it("runs a .cts pipeline file, in process and in step processes", async () => {
    const cwd = tempProject("weir-module-type-", { ...CTS_FILES, "package.json": JSON.stringify({ name: "plain" }) });
    const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
    expect(expectOk(await weirIn({ cwd, home }, "run", "pipeline.cts")).stdout).toContain('"hello ada"');
    expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
    expect(expectOk(await weirIn({ cwd, home }, "run", "pipeline.cts", "--stack", "processes")).stdout).toContain('"hello ada"');
  });

  it('runs its steps in step processes too (local_process, "type": "commonjs")', async () => {
    const cwd = tempProject("weir-module-type-", { ...PIPELINE_FILES, ...FOLDERS['with "type": "commonjs"'] });
    const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
    expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
    const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.ts", "--stack", "processes"));
    expect(result.stdout).toContain('"hello ada!"');
  });
});

// Step processes load the run's TypeScript as the launcher compiled it once (no tsx): the
// step's module must still be itself there: its URL, its folder, its relative imports, its
// steps found under its path, its lines in stack traces.
const WITNESS_FILES = {
  "pipeline.ts": `
import { readFileSync } from "node:fs";
import { pipeline, step } from "weir";
import { greet } from "./helper.js";

const witness = step(function witness(): Record<string, unknown> {
  const frame = String(new Error("here").stack).split("\\n")[1];
  return {
    url: import.meta.url,
    dirname: import.meta.dirname,
    note: readFileSync(new URL("./note.txt", import.meta.url), "utf8"),
    greeting: greet("ada"),
    frame,
    precompiled: [...process.execArgv, ...process.argv].some((arg) => arg.includes("register-precompiled")),
    tsx: [...process.execArgv, ...process.argv].some((arg) => arg.includes("register-typescript")),
  };
});
export const witnessed = pipeline(function witnessed() {
  return witness();
});
`,
  "helper.ts": "export const greet = (name: string): string => `hello ${name}`;\n",
  "note.txt": "beside pipeline.ts",
};

describe("step processes of a TypeScript pipeline file (local_process) load it precompiled", () => {
  for (const [label, extra] of Object.entries({ ...FOLDERS, 'with "type": "module"': { "package.json": JSON.stringify({ type: "module" }) } })) {
    it(`as the file it is, in a folder ${label}`, async () => {
      const cwd = realpathSync(tempProject("weir-module-type-ts-", { ...WITNESS_FILES, ...extra }));
      const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
      expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
      const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.ts", "--stack", "processes"));
      const seen = JSON.parse(result.stdout.slice(result.stdout.indexOf("output:") + "output:".length)) as Record<string, unknown>;
      expect(seen).toMatchObject({
        url: pathToFileURL(join(cwd, "pipeline.ts")).href,
        dirname: cwd,
        note: "beside pipeline.ts",
        greeting: "hello ada",
        precompiled: true,
        tsx: false,
      });
      // The line of `new Error` in pipeline.ts (source maps), under the file's own path.
      expect(seen.frame).toContain(`${join(cwd, "pipeline.ts")}:7:`);
    });
  }

  it("as the file it is, for a .mts file too", async () => {
    const cwd = realpathSync(tempProject("weir-module-type-ts-", { "pipeline.mts": WITNESS_FILES["pipeline.ts"], "helper.ts": WITNESS_FILES["helper.ts"], "note.txt": "beside pipeline.mts" }));
    const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
    expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
    const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.mts", "--stack", "processes"));
    const seen = JSON.parse(result.stdout.slice(result.stdout.indexOf("output:") + "output:".length)) as Record<string, unknown>;
    expect(seen).toMatchObject({ url: pathToFileURL(join(cwd, "pipeline.mts")).href, note: "beside pipeline.mts", precompiled: true, tsx: false });
  });

  it('finds a step defined in a module the pipeline file imports ("type": "module")', async () => {
    const cwd = realpathSync(
      tempProject("weir-module-type-ts-", {
        "package.json": JSON.stringify({ type: "module" }),
        "pipeline.ts": `import { pipeline } from "weir";\nimport { shout } from "./steps.js";\nexport const p = pipeline(function p() {\n  return shout("ada");\n});\n`,
        "steps.ts": `import { step } from "weir";\nexport const shout = step(function shout(name: string): string {\n  return name.toUpperCase() + " from " + import.meta.filename;\n});\n`,
      }),
    );
    const home = mkdtempSync(join(tmpdir(), "weir-module-type-home-"));
    expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
    const result = expectOk(await weirIn({ cwd, home }, "run", "pipeline.ts", "--stack", "processes"));
    expect(result.stdout).toContain(`"ADA from ${join(cwd, "steps.ts")}"`);
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
const shout = step(function shout(text) {
  return text + "!";
});
// A chain, so that the later steps run in step processes forked ahead (weir loaded before the hooks).
export const greeting = pipeline(function greeting() {
  return shout(shout(hello("ada")));
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
      expect(here.stdout).toContain('"hello ada!!"');
      expectOk(await weirIn({ cwd, home }, "stack", "register", "processes", "--orchestrator", "local_process"));
      const isolated = expectOk(await weirIn({ cwd, home }, "run", "pipeline.js", "--stack", "processes"));
      expect(isolated.stdout).toContain('"hello ada!!"');
    });
  }
});
