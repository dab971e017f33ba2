// Real `weir worker` processes for the queue tests, and the Redis clean-up of a test prefix.
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Redis } from "ioredis";

export const REDIS_URL = "redis://127.0.0.1:6379";
const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface StartedWorker {
  id: string;
  process: ChildProcess;
  output: () => string;
  /** SIGKILL, and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const started = new Set<StartedWorker>();

/** Starts `weir worker ARGS…` (from source) and resolves once it says it is ready. */
export function startWorker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedWorker> {
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "test/worker/weir-source.ts"), "worker", ...args], {
    cwd: ROOT,
    env: { ...process.env, WEIR_DEBUG: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const worker: StartedWorker = {
    id: "",
    process: child,
    output: () => output,
    kill: async (signal = "SIGKILL") => {
      started.delete(worker);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  started.add(worker);
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`worker did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^worker (\S+) ready:/m.exec(output);
      if (match && !worker.id) {
        clearTimeout(timer);
        worker.id = match[1];
        ready(worker);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!worker.id) fail(new Error(`worker exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

/** Kills every worker the tests started and has not killed yet. */
export async function killAllWorkers(): Promise<void> {
  await Promise.all([...started].map((w) => w.kill()));
}

/** Deletes every Redis key under a test's prefix. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export function uniquePrefix(name: string): string {
  return `weirtest-${name}-${process.pid}-${Date.now().toString(36)}`;
}
