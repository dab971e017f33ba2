import { transform } from "esbuild";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vitest/config";

/**
 * Step and pipeline names default to function names. Vite's own TypeScript transform
 * forces esbuild's keepNames off, so `const square = step(function square…)` would be
 * named `square2` under vitest (tsx and Node keep `square`). This plugin compiles
 * TypeScript first, with keepNames on, so tests see the names users see.
 */
function keepFunctionNames(): Plugin {
  return {
    name: "weir-keep-function-names",
    enforce: "pre",
    async transform(code, id) {
      if (!/\.[cm]?ts$/.test(id) || id.includes("/node_modules/")) return undefined;
      const result = await transform(code, { loader: "ts", keepNames: true, format: "esm", target: "es2022", sourcemap: true, sourcefile: id });
      return { code: result.code, map: result.map };
    },
  };
}

export default defineConfig({
  plugins: [keepFunctionNames()],
  resolve: {
    // Tests and examples import "weir" like users do; inside vitest that is the source tree.
    alias: { weir: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
  },
  test: {
    include: ["test/**/*.test.ts"],
    // WEIR_TEST_STORE=postgres: each test file runs on a fresh PostgreSQL database (see the file).
    setupFiles: ["test/stores/postgres-test-store.ts"],
    pool: "forks",
    // Steps' console output must reach process.stdout, where weir captures it per step run.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
