import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
// The plugin weir ships as `weir/vitest` (see its comment): tests see the step names users see.
import { keepFunctionNames } from "./src/vitest.js";

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
