// `weir/vitest`: a vitest (Vite) plugin for projects that test weir pipelines.
import { createRequire } from "node:module";

type Esbuild = typeof import("esbuild");

/** The shape of a Vite plugin this needs (weir does not depend on vite or vitest). */
export interface KeepFunctionNamesPlugin {
  name: string;
  enforce: "pre";
  transform(code: string, id: string): Promise<{ code: string; map: string } | undefined>;
}

let esbuild: Esbuild | undefined;
/** esbuild comes with tsx (a dependency of weir), so it is found through tsx, hoisted or not. */
function loadEsbuild(): Esbuild {
  esbuild ??= createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild") as Esbuild;
  return esbuild;
}

/**
 * Step and pipeline names default to function names. Vite's own TypeScript transform
 * forces esbuild's keepNames off, so `const square = step(function square…)` would be
 * named `square2` under vitest (tsx, Node and the weir CLI keep `square`). This plugin
 * compiles TypeScript first, with keepNames on, so tests see the names users see:
 * `defineConfig({ plugins: [keepFunctionNames()] })`.
 */
export function keepFunctionNames(): KeepFunctionNamesPlugin {
  return {
    name: "weir-keep-function-names",
    enforce: "pre",
    async transform(code, id) {
      if (!/\.[cm]?ts$/.test(id) || id.includes("/node_modules/")) return undefined;
      const result = await loadEsbuild().transform(code, {
        loader: "ts",
        keepNames: true,
        format: "esm",
        target: "es2022",
        sourcemap: true,
        sourcefile: id,
      });
      return { code: result.code, map: result.map };
    },
  };
}
