// Runs a `weir` command (the repository's bin/weir.js unless told otherwise) as a child
// process in a folder of its own, as a user would from their project.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  home: string;
  /** The `weir` script to run (default: this repository's). */
  bin?: string;
  timeoutMs?: number;
}

export function weirIn(options: RunOptions, ...args: string[]): Promise<Result> {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
    throw new Error("these tests run the built CLI: run `npm run build` first");
  }
  const bin = options.bin ?? join(ROOT, "bin/weir.js");
  const env: NodeJS.ProcessEnv = { ...process.env, WEIR_HOME: options.home, WEIR_DEBUG: "" };
  // A store URL from the parent would point the child at another store than its home's.
  delete env.WEIR_STORE_URL;
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { cwd: options.cwd, env, timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** A temporary folder holding `files` (path → content). */
export function tempProject(prefix: string, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFiles(dir, files);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** Fails with the command's output when it did not exit 0. */
export function expectOk(result: Result): Result {
  if (result.code !== 0) throw new Error(`exit code ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  return result;
}
