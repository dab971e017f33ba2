// The launcher's precompiled TypeScript (Precompiler) and the module hooks step processes load
// it with (bin/register-precompiled.js): a file loaded that way must behave as under tsx.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Precompiler } from "../../src/orchestrators/local-process/precompile.js";
import { precompiledImport } from "../../src/orchestrators/local-process/process-launcher.js";
import { tempProject } from "../packaging/cli.js";

/** Runs `main` in a fresh Node process with only the precompiled hooks of `manifest`; its stdout's JSON. */
function runWithHooks(manifest: string, main: string, cwd: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", precompiledImport(manifest), main], { cwd }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

// A module as users write them: TypeScript syntax, "./helper.js" for helper.ts, an
// extensionless import, a tsconfig `paths` alias, JSON, a file read next to it, and a
// file imported by a specifier computed at run time (not seen when compiling).
const PROJECT = {
  "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "@lib/*": ["lib/*"] } } }),
  "main.ts": `
import { readFileSync } from "node:fs";
import Module from "node:module";
import { helper, fail } from "./helper.js";
import { aliased } from "@lib/aliased";
import { plain } from "./plain";
import data from "./data.json" with { type: "json" };
const computed = "./comp" + "uted.ts";
const { late } = (await import(computed)) as { late: string };
let frame = "";
try {
  fail();
} catch (error) {
  frame = String((error as Error).stack).split("\\n")[1];
}
const result: Record<string, unknown> = {
  url: import.meta.url,
  dirname: import.meta.dirname,
  filename: import.meta.filename,
  text: readFileSync(new URL("./note.txt", import.meta.url), "utf8"),
  values: [helper, aliased, plain, data.k, late],
  frame,
  // tsx's require hook (its CommonJS register) would handle .ts files.
  tsxRequireHook: (Module as unknown as { _extensions: Record<string, unknown> })._extensions[".ts"] !== undefined,
  name: (function named_fn() {}).name,
};
console.log(JSON.stringify(result));
`,
  "helper.ts": `export const helper: string = "helper";
export function fail(): never {
  throw new Error("from helper");
}
`,
  "lib/aliased.ts": `export const aliased = "aliased" as string;\n`,
  "plain.mts": `export const plain: string = "plain";\n`,
  "computed.ts": `export const late: string = "late";\n`,
  "data.json": JSON.stringify({ k: 7 }),
  "note.txt": "next to main.ts",
};

describe("precompiled TypeScript for step processes", () => {
  const dirs: string[] = [];
  const precompilers: Precompiler[] = [];
  const project = (files: Record<string, string>) => {
    const dir = realpathSync(tempProject("weir-precompile-", files));
    dirs.push(dir);
    return dir;
  };
  const precompiler = () => {
    const p = new Precompiler();
    precompilers.push(p);
    return p;
  };
  afterAll(() => {
    for (const p of precompilers) p.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("loads each file under its own URL, resolved as tsx resolves it, without tsx", async () => {
    const dir = project(PROJECT);
    const main = join(dir, "main.ts");
    // The tsconfig tsx would use in the step process: TSX_TSCONFIG_PATH, else the one of the working directory.
    process.env.TSX_TSCONFIG_PATH = join(dir, "tsconfig.json");
    const manifestPath = await precompiler()
      .prepare(main)
      .finally(() => delete process.env.TSX_TSCONFIG_PATH);
    expect(manifestPath).toBeDefined();
    const manifest = JSON.parse(readFileSync(manifestPath!, "utf8")) as { modules: Record<string, string> };
    // Every TypeScript file the module imports statically was compiled; the computed import was not seen.
    const compiled = Object.keys(manifest.modules).map((url) => url.slice(pathToFileURL(dir).href.length + 1));
    expect(compiled.sort()).toEqual(["helper.ts", "lib/aliased.ts", "main.ts", "plain.mts"]);

    const seen = await runWithHooks(manifestPath!, main, dir);
    expect(seen.url).toBe(pathToFileURL(main).href);
    expect(seen.dirname).toBe(dir);
    expect(seen.filename).toBe(main);
    expect(seen.text).toBe("next to main.ts");
    expect(seen.values).toEqual(["helper", "aliased", "plain", 7, "late"]);
    // Stack traces name the original file and its TypeScript line (source maps), as callerModule() needs.
    expect(seen.frame).toContain(`${join(dir, "helper.ts")}:3:`);
    expect(seen.tsxRequireHook).toBe(false);
    // Function names are kept (step names default to them), as tsx keeps them.
    expect(seen.name).toBe("named_fn");
  });

  it("compiles once per run: a second module shares what the first compiled, and close() removes it all", async () => {
    const dir = project({ ...PROJECT, "other.ts": `import { helper } from "./helper.js";\nconsole.log(JSON.stringify({ helper }));\n` });
    const p = precompiler();
    process.env.TSX_TSCONFIG_PATH = join(dir, "tsconfig.json");
    const first = await p.prepare(join(dir, "main.ts")).finally(() => delete process.env.TSX_TSCONFIG_PATH);
    expect(await p.prepare(join(dir, "main.ts"))).toBe(first);
    const second = await p.prepare(join(dir, "other.ts"));
    expect(second).toBe(first);
    const manifest = JSON.parse(readFileSync(second!, "utf8")) as { modules: Record<string, string> };
    expect(Object.keys(manifest.modules)).toHaveLength(5);
    expect(await runWithHooks(second!, join(dir, "other.ts"), dir)).toEqual({ helper: "helper" });
    p.close();
    expect(existsSync(second!)).toBe(false);
  });

  it("leaves to tsx what it cannot keep as it is: CommonJS TypeScript, a require, code esbuild cannot parse, JSON without its attribute", async () => {
    const dir = project({
      "uses-cts.ts": `import { x } from "./common.cjs";\nexport const y = x;\n`,
      "common.cts": `export const x: number = 1;\n`,
      "requires.ts": `import { createRequire } from "node:module";\nconst require = createRequire(import.meta.url);\nexport const z = require("./helper.ts");\n`,
      "helper.ts": `export const h = 1;\n`,
      "broken.ts": `export const = ;\n`,
      "json.ts": `import data from "./data.json";\nexport const k = data.k;\n`,
      "data.json": JSON.stringify({ k: 1 }),
    });
    const p = precompiler();
    expect(await p.prepare(join(dir, "common.cts"))).toBeUndefined();
    expect(await p.prepare(join(dir, "uses-cts.ts"))).toBeUndefined();
    expect(await p.prepare(join(dir, "requires.ts"))).toBeUndefined();
    expect(await p.prepare(join(dir, "broken.ts"))).toBeUndefined();
    // JSON imported without `with { type: "json" }`, which only tsx's loader accepts.
    expect(await p.prepare(join(dir, "json.ts"))).toBeUndefined();
    expect(await p.prepare(join(dir, "helper.ts"))).toBeDefined();
  });
});
