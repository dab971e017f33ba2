import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const SCRIPT = resolve(import.meta.dirname, "s3rver-process.mjs");

/** A running s3rver on 127.0.0.1 with its own temp directory. */
export interface S3rverHandle {
  endpoint: string;
  port: number;
  directory: string;
  /** Kills the server at once (SIGKILL): in-flight requests are cut off, as when a server dies. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (after kill). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver in a child process with the given buckets. The standard AWS environment
 * variables are set to s3rver's fixed credentials so that the SDK's default credential chain
 * finds them there (and never asks an instance metadata endpoint).
 */
export async function startS3rver(buckets: string[] = ["weir"]): Promise<S3rverHandle> {
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  process.env.AWS_REGION ??= "us-east-1";
  const directory = mkdtempSync(join(tmpdir(), "weir-s3rver-"));
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async () => {
    const started = spawn(process.execPath, [SCRIPT, directory, String(port), ...buckets], { stdio: ["ignore", "pipe", "inherit"] });
    child = started;
    const line = await new Promise<string>((ok, fail) => {
      const lines = createInterface({ input: started.stdout! });
      lines.once("line", (l) => {
        lines.close();
        ok(l);
      });
      started.once("exit", (code) => fail(new Error(`s3rver exited with code ${code} before listening`)));
    });
    port = (JSON.parse(line) as { port: number }).port;
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((ok) => running.once("exit", ok));
    running.kill("SIGKILL");
    await exited;
  };
  await launch();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
