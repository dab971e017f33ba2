// Node module hooks (see bin/register-typescript.js), run in Node's loader thread.
import { readFileSync } from "node:fs";
import { URL, fileURLToPath } from "node:url";
import { Script } from "node:vm";

// Self-resolving "weir" from weir's own package.json finds this copy (its "exports").
const WEIR_PACKAGE = new URL("../package.json", import.meta.url).href;
// .cts too: TypeScript compiles its imports to require() calls, and weir (ESM only) cannot be
// required on Node 20; loaded as an ES module, a .cts pipeline file that imports weir works.
const TYPESCRIPT = /\.c?tsx?$/;
const JAVASCRIPT = /\.js$/;
// What compiling ES module syntax as CommonJS reports (Node's own module detection looks for these).
const MODULE_SYNTAX_ERRORS = [
  "Cannot use import statement outside a module",
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  "await is only valid in async functions",
];
const hasModuleSyntax = new Map();

/** Whether a .js file is written as an ES module (import/export), found the way Node detects it. */
function writtenAsModule(url) {
  let found = hasModuleSyntax.get(url);
  if (found === undefined) {
    found = false;
    try {
      new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(fileURLToPath(url), "utf8")}\n})`);
    } catch (error) {
      found = error instanceof SyntaxError && MODULE_SYNTAX_ERRORS.some((message) => error.message.includes(message));
    }
    hasModuleSyntax.set(url, found);
  }
  return found;
}

/** A file URL without its query and fragment (and an encoded query tsx folded into the path). */
function withoutQuery(url) {
  const clean = new URL(url);
  clean.search = "";
  clean.hash = "";
  return clean.href.replace(/%3Ftsx-[^/]*$/, "");
}

/** @type {import("node:module").ResolveHook} */
export async function resolve(specifier, context, nextResolve) {
  let resolved;
  try {
    resolved = await nextResolve(specifier, context);
  } catch (error) {
    // A pipeline file in a folder that does not install weir (a scratch folder, a script
    // beside a project): it gets the weir that runs it, the copy the CLI itself uses.
    const isWeir = specifier === "weir" || specifier.startsWith("weir/");
    if (isWeir && error?.code === "ERR_MODULE_NOT_FOUND") return nextResolve(specifier, { ...context, parentURL: WEIR_PACKAGE });
    throw error;
  }
  // Without "type": "module" a .ts file counts as CommonJS, and its `import`s then reach
  // Node's require(esm) in a cycle with the import that loads it. Pipeline files are ES
  // modules (weir is ESM-only), so the user's own TypeScript is loaded as one, and so is a
  // .js file written with import/export (else the TypeScript loader turns its imports into
  // require() calls, and "weir" is not found from a folder that does not install it).
  const { url, format } = resolved;
  if (format === "commonjs" && url.startsWith("file:") && !url.includes("/node_modules/")) {
    // tsx marks a CommonJS file imported from an ES module with a query of its own
    // (`?tsx-commonjs-export-preparse=1…`): the file is what matters, without that query.
    const file = withoutQuery(url);
    if (TYPESCRIPT.test(file) || (JAVASCRIPT.test(file) && writtenAsModule(file))) return { ...resolved, url: file, format: "module" };
  }
  return resolved;
}
