#!/usr/bin/env node
// The `weir` command. TypeScript support is registered first so that `weir run pipeline.ts`
// can import TypeScript files directly; the CLI itself is the compiled dist/ code.
import "./register-typescript.js";

const { main } = await import("../dist/cli/main.js");
await main(process.argv);
