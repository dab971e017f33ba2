import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests and examples import "weir" like users do; inside vitest that is the source tree.
    alias: { weir: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
  },
  // Step and pipeline names default to function names; keep esbuild from renaming them.
  esbuild: { keepNames: true },
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
