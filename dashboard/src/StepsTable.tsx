import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import type { ApiStepRun } from "../../src/server/types";
import { StatusBadge } from "./components";
import { duration, when } from "./format";

const ROW = 40;

/** Every step run of the run, filterable, in a virtualised list (10,000 rows stay smooth). */
export function StepsTable({ steps, filter, onFilter, selected, onOpen }: { steps: ApiStepRun[]; filter: string; onFilter: (f: string) => void; selected: string | null; onOpen: (name: string) => void }) {
  const rows = useMemo(() => {
    // A group key from the graph (`score[…]`, `work ×`) filters to its members.
    const f = filter.replace(/\[…\]$/, "[").replace(/ ×$/, "").toLowerCase();
    return f ? steps.filter((s) => s.name.toLowerCase().includes(f) || s.status === f) : steps;
  }, [steps, filter]);
  const parent = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: rows.length, getScrollElement: () => parent.current, estimateSize: () => ROW, overscan: 10 });
  return (
    <div className="card steps-table">
      <div className="steps-toolbar">
        <input type="search" placeholder="Filter step runs by name or status…" value={filter} onChange={(e) => onFilter(e.target.value)} />
        <span className="subtle">
          {rows.length.toLocaleString()} of {steps.length.toLocaleString()}
        </span>
      </div>
      <div className="steps-head">
        <span>Step run</span>
        <span>Status</span>
        <span>Attempts</span>
        <span>Started</span>
        <span className="num">Duration</span>
      </div>
      <div className="steps-scroll" ref={parent}>
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((item) => {
            const s = rows[item.index];
            return (
              <div
                key={s.id}
                className={`steps-row ${selected === s.name ? "selected" : ""}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW }}
                onClick={() => onOpen(s.name)}
                data-testid="step-row"
              >
                <span className="mono">{s.name}</span>
                <span>
                  <StatusBadge status={s.status} />
                </span>
                <span>{s.attempt}</span>
                <span>{when(s.startedAt)}</span>
                <span className="num">{duration(s.startedAt && s.endedAt ? s.endedAt - s.startedAt : null)}</span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
