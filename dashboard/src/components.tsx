import type { RunStatus, StepStatus } from "../../src/server/types";
import { STEP_STATUSES } from "./format";

export function StatusBadge({ status, dead }: { status: RunStatus | StepStatus; dead?: boolean }) {
  return (
    <span className={`badge status-${dead ? "dead" : status}`} data-status={status}>
      <span className="dot" />
      {dead ? "running (dead)" : status}
    </span>
  );
}

/** A stacked bar of step counts by status, with the numbers beside it. */
export function CountsBar({ counts, total, compact }: { counts: Partial<Record<StepStatus, number>>; total: number; compact?: boolean }) {
  return (
    <div className={`counts ${compact ? "compact" : ""}`} title={STEP_STATUSES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ")}>
      <div className="counts-bar">
        {STEP_STATUSES.map((s) =>
          counts[s] ? <span key={s} className={`seg bg-${s}`} style={{ flexGrow: counts[s] }} /> : null,
        )}
        {total === 0 && <span className="seg bg-none" style={{ flexGrow: 1 }} />}
      </div>
      {!compact && <span className="counts-total">{total.toLocaleString()}</span>}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-title">{title}</div>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  return <div className="error-note">{error instanceof Error ? error.message : String(error)}</div>;
}

export function Link({ to, children, className }: { to: string; children: React.ReactNode; className?: string }) {
  return (
    <a href={`#${to}`} className={className}>
      {children}
    </a>
  );
}
