import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import type { ApiStepRun } from "../../src/server/types";
import { duration } from "./format";

const ROW = 30;

/** A Gantt chart of step runs (one row each, virtualised), bars from start to end; retried ones show their attempts. */
export function Timeline({ steps, now, selected, onOpen }: { steps: ApiStepRun[]; now: number; selected: string | null; onOpen: (name: string) => void }) {
  const rows = useMemo(
    () => [...steps].sort((a, b) => (a.startedAt ?? Infinity) - (b.startedAt ?? Infinity) || a.position - b.position),
    [steps],
  );
  const [t0, t1] = useMemo(() => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of steps) {
      const start = s.startedAt ?? s.createdAt;
      lo = Math.min(lo, start);
      hi = Math.max(hi, s.endedAt ?? (s.startedAt ? now : start));
    }
    return lo === Infinity ? [now, now + 1] : [lo, Math.max(hi, lo + 1)];
  }, [steps, now]);
  const span = t1 - t0;
  const parent = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: rows.length, getScrollElement: () => parent.current, estimateSize: () => ROW, overscan: 12 });
  const ticks = Array.from({ length: 6 }, (_, i) => i / 5);

  return (
    <div className="timeline card">
      <div className="tl-axis">
        <div className="tl-label-col">Step run</div>
        <div className="tl-track">
          {ticks.map((f) => (
            <span key={f} className="tl-tick" style={{ left: `${f * 100}%` }}>
              {duration(f * span)}
            </span>
          ))}
        </div>
      </div>
      <div className="tl-scroll" ref={parent} data-testid="timeline">
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => {
            const s = rows[item.index];
            const start = s.startedAt;
            const end = s.endedAt ?? (start !== null ? now : null);
            const left = start === null ? 0 : ((start - t0) / span) * 100;
            const width = start === null || end === null ? 0 : Math.max(((end - start) / span) * 100, 0.3);
            const failedAttempts = Array.isArray(s.metadata.attempts) ? (s.metadata.attempts as { attempt: number; error: string }[]) : [];
            return (
              <div
                key={s.id}
                className={`tl-row ${selected === s.name ? "selected" : ""}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW }}
                onClick={() => onOpen(s.name)}
                data-testid="timeline-row"
              >
                <div className="tl-label-col mono" title={s.name}>
                  {s.name}
                </div>
                <div className="tl-track">
                  {start === null ? (
                    <span className="tl-waiting">{s.status}</span>
                  ) : (
                    <span
                      className={`tl-bar bg-${s.status}`}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={`${s.status} · ${duration((end ?? start) - start)}${s.attempt > 1 ? ` · ${s.attempt} attempts` : ""}${failedAttempts.map((a) => `\nattempt ${a.attempt}: ${a.error}`).join("")}`}
                    >
                      {s.attempt > 1 &&
                        Array.from({ length: s.attempt - 1 }, (_, i) => (
                          <span key={i} className="tl-attempt" style={{ left: `${((i + 1) / s.attempt) * 100}%` }} />
                        ))}
                    </span>
                  )}
                  <span className="tl-dur" style={{ left: `calc(${Math.min(left + width, 92)}% + 6px)` }}>
                    {start !== null ? duration((end ?? start) - start) : ""}
                    {s.attempt > 1 ? ` · ${s.attempt} attempts` : ""}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
