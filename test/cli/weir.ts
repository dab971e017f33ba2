// Runs the real `weir` command (bin/weir.js → dist/) as a child process against a test home.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fresh WEIR_HOME; one per test file keeps the number of (slow) CLI start-ups down. */
export function tempHome(): string {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
    throw new Error("the CLI tests run the built CLI: run `npm run build` first");
  }
  return mkdtempSync(join(tmpdir(), "weir-cli-"));
}

export function weir(home: string, ...args: string[]): Promise<Result> {
  return weirWith({ env: { WEIR_HOME: home } }, ...args);
}

/** `weir` in another working directory and environment (`WEIR_HOME: undefined` unsets it). */
export function weirWith(options: { cwd?: string; env?: Record<string, string | undefined> }, ...args: string[]): Promise<Result> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, "bin/weir.js"), ...args],
      { cwd: options.cwd ?? ROOT, env: environment(options.env) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

function environment(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, WEIR_DEBUG: "", ...overrides };
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete env[key];
  return env;
}

/** A `weir` process left running (to signal or kill it); `result` settles when it exits. */
export function startWeir(home: string, ...args: string[]): { child: ChildProcess; result: Promise<Result & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [join(ROOT, "bin/weir.js"), ...args], { cwd: ROOT, env: environment({ WEIR_HOME: home }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Result & { signal: NodeJS.Signals | null }>((done) => {
    child.on("close", (code, signal) => done({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, result };
}

/** The run id `weir run` printed. */
export function runIdOf(result: Result): string {
  const match = /^run:\s+(\S+)$/m.exec(result.stdout);
  if (!match) throw new Error(`no run id in:\n${result.stdout}\n${result.stderr}`);
  return match[1];
}

/** A user mistake: exit 1, exactly one `error:` line on stderr, no stack trace. */
export function expectUserError(result: Result, message: RegExp | string): void {
  const lines = result.stderr.trim().split("\n");
  const problems: string[] = [];
  if (result.code !== 1) problems.push(`exit code ${result.code}`);
  if (lines.length !== 1 || !lines[0].startsWith("error: ")) problems.push("not one error line");
  if (result.stderr.includes("    at ")) problems.push("stack trace");
  const matches = typeof message === "string" ? result.stderr.includes(message) : message.test(result.stderr);
  if (!matches) problems.push(`message does not match ${message}`);
  if (problems.length > 0) throw new Error(`${problems.join(", ")}:\n${result.stderr}`);
}
