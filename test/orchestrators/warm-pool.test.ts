import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { envDifference, WarmPool } from "../../src/orchestrators/local-process/warm-pool.js";

const ENTRY = join(import.meta.dirname, "..", "fixtures", "process", "warm-entry.mjs");
const never = new AbortController().signal;

function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe("WarmPool", () => {
  it("tells a process forked ahead what differs in an attempt's environment", () => {
    expect(envDifference({ A: "1", B: "2", C: "3" }, { A: "1", B: "20", D: "4" })).toEqual({ B: "20", C: null, D: "4" });
    expect(envDifference({ A: "1" }, { A: "1" })).toEqual({});
  });

  it("forks a kind ahead once asked for it, hands each process to one attempt, and kills the rest on close", async () => {
    const pool = new WarmPool({ entrypoint: ENTRY, size: 2 });
    const env = { ...process.env, POOL_A: "fork-time", POOL_B: "fork-time" };
    // Nothing of this kind is booted or booting yet: the first attempt forks its own process.
    expect(await pool.acquire([], env, never)).toBeUndefined();
    expect(pool.pids()).toHaveLength(2);

    // The next attempts get those (waiting for one still booting) with their own environment.
    const attemptEnv = { ...env, POOL_A: "attempt" } as NodeJS.ProcessEnv;
    delete attemptEnv.POOL_B;
    const first = (await pool.acquire([], attemptEnv, never))!;
    const second = (await pool.acquire([], attemptEnv, never))!;
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(first.process.child.pid).not.toBe(second.process.child.pid);
    // Each taken process was replaced in the background.
    expect(pool.pids()).toHaveLength(2);
    expect(pool.pids()).not.toContain(first.process.child.pid);

    const reply = new Promise<{ stepRunId: string; attempt: number; env: object; task: string | null; assigned: number }>((resolve) =>
      first.process.child.on("message", (message: { type: string }) => message.type === "got" && resolve(message as never)),
    );
    const exit = new Promise((resolve) => first.process.child.once("exit", resolve));
    first.assign("step-run-1", 3, '{"invocationId":"a"}');
    expect(await reply).toEqual({
      type: "got",
      stepRunId: "step-run-1",
      attempt: 3,
      env: { POOL_A: "attempt", POOL_B: null },
      task: '{"invocationId":"a"}',
      assigned: 1,
    });
    await exit;

    const pooled = pool.pids();
    second.process.child.kill("SIGKILL");
    await pool.close();
    expect(pooled.length).toBe(2);
    for (const pid of pooled) expect(exited(pid)).toBe(true);
    expect(pool.pids()).toEqual([]);
    // A closed pool forks nothing.
    expect(await pool.acquire([], env, never)).toBeUndefined();
    expect(pool.pids()).toEqual([]);
  });

  it("keeps kinds apart by execArgv", async () => {
    const pool = new WarmPool({ entrypoint: ENTRY, size: 1 });
    try {
      expect(await pool.acquire([], process.env, never)).toBeUndefined();
      expect(await pool.acquire(["--max-old-space-size=100"], process.env, never)).toBeUndefined();
      const plain = (await pool.acquire([], process.env, never))!;
      const limited = (await pool.acquire(["--max-old-space-size=100"], process.env, never))!;
      expect(plain.process.child.spawnargs).not.toContain("--max-old-space-size=100");
      expect(limited.process.child.spawnargs).toContain("--max-old-space-size=100");
      plain.process.child.kill("SIGKILL");
      limited.process.child.kill("SIGKILL");
    } finally {
      await pool.close();
    }
  });

  it("stops warming a kind whose processes die while booting: attempts fork their own", async () => {
    const pool = new WarmPool({ entrypoint: ENTRY, size: 2 });
    try {
      const env = { ...process.env, WARM_ENTRY_FAIL: "1" };
      expect(await pool.acquire([], env, never)).toBeUndefined();
      const booting = pool.pids();
      expect(booting).toHaveLength(2);
      // The attempt waits for a booting process, which dies: it is told to fork its own.
      expect(await pool.acquire([], env, never)).toBeUndefined();
      while (!booting.every(exited)) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(pool.pids()).toEqual([]);
      expect(await pool.acquire([], env, never)).toBeUndefined();
      expect(pool.pids()).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it("stops waiting for a booting process when the attempt is aborted", async () => {
    const pool = new WarmPool({ entrypoint: ENTRY, size: 1 });
    try {
      expect(await pool.acquire([], process.env, never)).toBeUndefined();
      const controller = new AbortController();
      const waiting = pool.acquire([], process.env, controller.signal);
      controller.abort(new Error("timed out"));
      await expect(waiting).rejects.toThrow("timed out");
      // The process it waited for stays in the pool for the next attempt.
      const next = await pool.acquire([], process.env, never);
      expect(next).toBeDefined();
      next!.process.child.kill("SIGKILL");
    } finally {
      await pool.close();
    }
  });
});
