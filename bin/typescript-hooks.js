// Node module hooks (see bin/register-typescript.js), run in Node's loader thread.
import { URL } from "node:url";

// Self-resolving "weir" from weir's own package.json finds this copy (its "exports").
const WEIR_PACKAGE = new URL("../package.json", import.meta.url).href;
const TYPESCRIPT = /\.tsx?$/;

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
  // modules (weir is ESM-only), so the user's own TypeScript is loaded as one.
  const { url, format } = resolved;
  if (format === "commonjs" && url.startsWith("file:") && TYPESCRIPT.test(url) && !url.includes("/node_modules/")) {
    return { ...resolved, format: "module" };
  }
  return resolved;
}
