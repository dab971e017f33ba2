import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMetadataStore } from "../src/config/home.js";

/** Points WEIR_HOME at a fresh temporary folder: every test file gets its own store. */
export function useTempHome(prefix = "weir-test-"): string {
  const home = mkdtempSync(join(tmpdir(), prefix));
  process.env.WEIR_HOME = home;
  return home;
}

export function store() {
  return openMetadataStore();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
