import type { RunStatus, StepStatus } from "../../src/server/types";

export const STEP_STATUSES: StepStatus[] = ["running", "pending", "completed", "cached", "failed", "skipped"];

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m ${Math.round((ms % 60_000) / 1_000)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function when(ms: number | null): string {
  if (ms === null) return "—";
  const d = new Date(ms);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function ago(ms: number | null): string {
  if (ms === null) return "";
  const s = Math.round((Date.now() - ms) / 1_000);
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3_600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function shortId(id: string): string {
  return id.length > 12 ? id.slice(-8) : id;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export const isActive = (status: RunStatus | StepStatus) => status === "running" || status === "initializing" || status === "pending";
