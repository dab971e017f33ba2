// Node module hooks (see bin/register-precompiled.js), run in Node's loader thread. They
// answer for the TypeScript files the launcher compiled ahead; everything else goes through
// weir's hooks for user modules (bin/typescript-hooks.js: "weir" from a folder that does not
// install it, ES module syntax in a CommonJS folder) and Node's own loader.
import { readFileSync } from "node:fs";
import { URL, fileURLToPath } from "node:url";
import { resolve as resolveUserModule } from "./typescript-hooks.js";

const TYPESCRIPT = /\.(?:ts|mts|tsx)$/;
/** @type {string | undefined} */
let manifestFile;
/** @type {{ modules: Record<string, string>, imports: Record<string, Record<string, string>> } | undefined} */
let manifest;

/** @param {{ manifest?: string } | undefined} data */
export function initialize(data) {
  manifestFile = data?.manifest ?? undefined;
}

// Read when first needed, i.e. once the attempt imports its module: a process forked ahead
// registers these hooks before the launcher has compiled the module of its attempt. Read
// again once if a file is missing (a module the launcher compiled later).
function precompiled(reload = false) {
  if (manifestFile && (!manifest || reload)) {
    try {
      manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    } catch {
      manifest = undefined;
    }
  }
  return manifest ?? { modules: {}, imports: {} };
}

/** @type {import("node:module").ResolveHook} */
export async function resolve(specifier, context, nextResolve) {
  const local = context.parentURL && precompiled().imports[context.parentURL]?.[specifier];
  return resolveUserModule(local || specifier, context, nextResolve);
}

/** @type {import("node:module").LoadHook} */
export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !TYPESCRIPT.test(new URL(url).pathname)) return nextLoad(url, context);
  const file = precompiled().modules[url] ?? precompiled(true).modules[url];
  // A TypeScript file the launcher did not see (imported by a computed specifier) is compiled now.
  const source = file
    ? readFileSync(file, "utf8")
    : await (await import("../dist/orchestrators/local-process/precompile.js")).compileTypeScript(fileURLToPath(url));
  return { format: "module", source, shortCircuit: true };
}
