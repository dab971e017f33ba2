import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
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
  for (const name of stackFileNames()) {
    if (!name.startsWith("/") && !name.startsWith("file://")) continue;
    const file = name.startsWith("file://") ? fileURLToPath(name) : name;
    if (OWN_DIRS.some((dir) => file.startsWith(dir)) || file.includes("/node_modules/")) continue;
    return file;
  }
  return undefined;
}

/**
 * The file names of the current stack's frames, from V8's call sites: formatting the stack
 * as text would map every frame through its source map when source maps are on (tsx turns
 * them on), which cost a step process ~35 ms per module of steps.
 */
function stackFileNames(): string[] {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, callSites) => callSites.map((site) => site.getFileName() ?? "");
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, stackFileNames);
    return Array.isArray(holder.stack) ? (holder.stack as string[]) : [];
  } finally {
    Error.prepareStackTrace = original;
  }
}

// ---- source hashing for the cache key ----------------------------------------------

// Specifiers of imports, re-exports, dynamic imports and requires that start with ./ or ../
// (a string that merely looks like one only adds a file to the key, which is harmless).
const LOCAL_IMPORT = /\b(?:from|import|require)\s*\(?\s*["'](\.{1,2}\/[^"'\n]*)["']/g;
// How TypeScript ESM names files: "./helper.js" is helper.ts on disk; extensionless and
// folder imports (bundlers, tsx) are tried too.
const REWRITES: [RegExp, string][] = [
  [/\.js$/, ".ts"],
  [/\.js$/, ".tsx"],
  [/\.mjs$/, ".mts"],
  [/\.cjs$/, ".cts"],
  [/\.jsx$/, ".tsx"],
];
const SUFFIXES = [".ts", ".tsx", ".mts", ".js", ".mjs", ".cjs", ".json", "/index.ts", "/index.tsx", "/index.js"];

const fileHashes = new Map<string, { hash: string; imports: string[] } | null>();
const sourceHashes = new Map<string, string>();

/**
 * A hash of a module's source and of every local file it imports, transitively (relative
 * specifiers only; nothing under node_modules). Each file is read once per process: the
 * code a process runs is the code it imported when it started, so later edits belong to
 * the next process anyway. A file that cannot be read counts as absent.
 */
export function sourceHashOf(module: string): string {
  let result = sourceHashes.get(module);
  if (result !== undefined) return result;
  const seen = new Set<string>([module]);
  const queue = [module];
  const parts: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i];
    const entry = readSource(file);
    parts.push(`${relative(dirname(module), file)}:${entry?.hash ?? "-"}`);
    for (const imported of entry?.imports ?? []) {
      if (!seen.has(imported)) {
        seen.add(imported);
        queue.push(imported);
      }
    }
  }
  result = createHash("sha256").update(parts.sort().join("\n")).digest("hex").slice(0, 32);
  sourceHashes.set(module, result);
  return result;
}

function readSource(file: string): { hash: string; imports: string[] } | null {
  let entry = fileHashes.get(file);
  if (entry !== undefined) return entry;
  try {
    const text = readFileSync(file, "utf8");
    const imports: string[] = [];
    for (const match of text.matchAll(LOCAL_IMPORT)) {
      const target = resolveLocal(dirname(file), match[1]);
      if (target !== undefined) imports.push(target);
    }
    entry = { hash: createHash("sha256").update(text).digest("hex"), imports };
  } catch {
    entry = null;
  }
  fileHashes.set(file, entry);
  return entry;
}

function resolveLocal(dir: string, specifier: string): string | undefined {
  const base = resolve(dir, specifier.replace(/[?#].*$/, ""));
  const candidates = [base, ...REWRITES.map(([from, to]) => base.replace(from, to)), ...SUFFIXES.map((s) => base + s)];
  return candidates.find((c) => !c.includes("/node_modules/") && isFile(c));
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
}
