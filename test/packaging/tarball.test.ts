// The package as a user gets it: packed by `npm pack` from a tree without dist/ (so its own
// prepare script must build it), unpacked into a fresh project, then used there: the CLI's
// demo, a user's pipeline and a vitest test with `weir/vitest`.
//
// The tarball is unpacked into the project's node_modules rather than `npm install`ed: an
// install needs the registry (or compiles better-sqlite3 for a minute). weir's declared
// dependencies, and only those, are linked from this repository's node_modules, so an
// import of anything weir does not declare fails here as it would for a user.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk, ROOT, tempProject, weirIn, writeFiles } from "./cli.js";

const exec = promisify(execFile);
const SOURCE_FILES = ["package.json", "tsconfig.json", "tsconfig.build.json", "README.md", "src", "bin", "examples", "dashboard"];

let project: string;
let installed: string;
const made: string[] = [];

/** `npm pack` of a copy of this repository without dist/; resolves to the tarball. */
async function packFromCleanTree(): Promise<string> {
  const tree = mkdtempSync(join(tmpdir(), "weir-pack-tree-"));
  made.push(tree);
  for (const file of SOURCE_FILES) cpSync(join(ROOT, file), join(tree, file), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"), "dir");
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" };
  delete env.NODE_OPTIONS;
  const { stdout } = await exec("npm", ["pack", "--json", "--pack-destination", tree], { cwd: tree, env, timeout: 180_000 });
  const [{ filename }] = JSON.parse(stdout.slice(stdout.indexOf("["))) as { filename: string }[];
  return join(tree, filename);
}

function linkDependency(nodeModules: string, name: string): void {
  const target = join(ROOT, "node_modules", name);
  if (!existsSync(target)) throw new Error(`dependency ${name} is not installed in ${ROOT}`);
  mkdirSync(dirname(join(nodeModules, name)), { recursive: true });
  symlinkSync(target, join(nodeModules, name), "dir");
}

beforeAll(async () => {
  const tarball = await packFromCleanTree();
  // A project without "type": "module", as `npm init -y` makes it.
  project = tempProject("weir-installed-", { "package.json": JSON.stringify({ name: "my-pipelines", version: "1.0.0" }) });
  made.push(project);
  installed = join(project, "node_modules/weir");
  mkdirSync(installed, { recursive: true });
  await exec("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"]);
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const name of Object.keys(manifest.dependencies)) linkDependency(join(project, "node_modules"), name);
  linkDependency(join(project, "node_modules"), "vitest"); // the user's own dev dependency
}, 240_000);

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("the packed package installed into a fresh project", () => {
  it("contains the built code, and every source map points at a shipped file", () => {
    expect(existsSync(join(installed, "dist/index.js"))).toBe(true);
    expect(existsSync(join(installed, "dist/vitest.js"))).toBe(true);
    const maps = readdirSync(join(installed, "dist"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(10);
    const missing = maps.flatMap((map) => {
      const { sources } = JSON.parse(readFileSync(join(installed, "dist", map), "utf8")) as { sources: string[] };
      return sources.map((s) => resolve(dirname(join(installed, "dist", map)), s)).filter((s) => !existsSync(s));
    });
    expect(missing).toEqual([]);
  });

  it("runs `weir demo`", async () => {
    const home = mkdtempSync(join(tmpdir(), "weir-installed-home-"));
    const result = expectOk(await weirIn({ cwd: project, home, bin: join(installed, "bin/weir.js") }, "demo"));
    expect(result.stdout).toContain("static-pipeline.ts");
    expect(result.stdout).not.toMatch(/\bfailed\b/);
  });

  it("runs a user's pipeline file with the installed weir", async () => {
    writeFiles(project, {
      "pipeline.ts": `
import { pipeline, step } from "weir";
const whereIsWeir = step(function where_is_weir(): string {
  return import.meta.resolve("weir");
});
export const located = pipeline(function located() {
  return whereIsWeir();
});
`,
    });
    const home = mkdtempSync(join(tmpdir(), "weir-installed-home-"));
    const result = expectOk(await weirIn({ cwd: project, home, bin: join(installed, "bin/weir.js") }, "run", "pipeline.ts"));
    expect(result.stdout).toContain(`${installed}/dist/index.js`);
  });

  it("keeps step names under vitest with the weir/vitest plugin", async () => {
    writeFiles(project, {
      "vitest.config.ts": `
import { defineConfig } from "vitest/config";
import { keepFunctionNames } from "weir/vitest";
export default defineConfig({ plugins: [keepFunctionNames()] });
`,
      "names.test.ts": `
import { expect, it } from "vitest";
import { pipeline, step } from "weir";
// Without the plugin, Vite's transform renames this function to square2.
const square = step(function square(x: number): number {
  return x * x;
});
it("keeps the step name", async () => {
  expect(square.stepName).toBe("square");
  const p = pipeline(function squared() {
    return square(7);
  });
  expect(await p()).toBe(49);
});
`,
    });
    const home = mkdtempSync(join(tmpdir(), "weir-installed-home-"));
    const env: NodeJS.ProcessEnv = { ...process.env, WEIR_HOME: home, NO_COLOR: "1" };
    for (const key of Object.keys(env)) if (/^(VITEST|FORCE_COLOR$|NODE_OPTIONS$)/.test(key)) delete env[key];
    const vitest = join(project, "node_modules/vitest/vitest.mjs");
    const { stdout } = await exec(process.execPath, [vitest, "run", "--reporter=verbose"], { cwd: project, env, timeout: 120_000 });
    expect(stdout).toContain("keeps the step name");
    expect(stdout).toMatch(/Tests\s+1 passed/);
  });
});
