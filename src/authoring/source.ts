import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// weir's own code lives in src/ (tests) or dist/ (built package): frames in either are
// skipped (with source maps on, dist/ frames even report src/ paths).
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const OWN_DIRS = [resolve(PACKAGE_ROOT, "src") + "/", resolve(PACKAGE_ROOT, "dist") + "/"];

/**
 * The file that called step()/pipeline(), read off the stack. It is recorded so that a
 * fresh process (a step's child process, an orchestration pod) can import the same module.
 */
export function callerModule(): string | undefined {
  const stack = new Error().stack?.split("\n").slice(1) ?? [];
  for (const line of stack) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?\s*$/.exec(line.trim());
    if (!match) continue;
    const file = match[1].startsWith("file://") ? fileURLToPath(match[1]) : match[1];
    if (OWN_DIRS.some((dir) => file.startsWith(dir)) || file.includes("/node_modules/")) continue;
    return file;
  }
  return undefined;
}
