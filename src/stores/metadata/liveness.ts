import { hostname } from "node:os";
import type { RunRecord } from "./types.js";

// Who drives a run, read off its row: the engine writes `owner` and `heartbeatAt`; readers
// (Client, resume, the lease) judge from them whether that process is still there. It lives
// beside the store types so that readers need not load the engine to ask.

/** How often the process driving a run says it is alive. */
export const HEARTBEAT_MS = 2_000;

/** A run whose driver has not been heard from for this long is considered dead. */
export const STALE_AFTER_MS = HEARTBEAT_MS * 5;

/** This process as a run owner: `host:pid`. */
export function ownerId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Whether the process driving an unfinished run is still there: on this host its pid is
 * checked directly; elsewhere the heartbeat must be recent.
 */
export function isAlive(run: RunRecord, now = Date.now()): boolean {
  if (run.status !== "running" && run.status !== "initializing") return false;
  const [host, pid] = (run.owner ?? "").split(":");
  if (host === hostname() && pid && !processExists(Number(pid))) return false;
  const lastSign = run.heartbeatAt ?? run.createdAt;
  return now - lastSign < STALE_AFTER_MS;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
