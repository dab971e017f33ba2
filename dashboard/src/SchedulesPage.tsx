import { useEffect, useState } from "react";
import type { ApiSchedule } from "../../src/server/types";
import { api } from "./api";
import { Empty, ErrorNote, Link, StatusBadge } from "./components";
import { ago, when } from "./format";

/** Schedules, their next fire times and the runs they started. */
export function SchedulesPage() {
  const [schedules, setSchedules] = useState<ApiSchedule[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const load = async () => {
      try {
        const result = await api<{ items: ApiSchedule[] }>("/api/schedules");
        if (stop) return;
        setSchedules(result.items);
        setError(null);
      } catch (e) {
        if (!stop) setError(e);
      }
      // Next fire times move and new runs appear: keep the page current.
      if (!stop) timer = setTimeout(load, 3_000);
    };
    void load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, []);

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Schedules</h1>
          <div className="subtle">{schedules ? `${schedules.length} schedule${schedules.length === 1 ? "" : "s"}` : "Loading…"}</div>
        </div>
      </div>
      {error !== null && <ErrorNote error={error} />}
      {schedules && schedules.length === 0 && (
        <Empty title="No schedules yet">
          Create one with <code>weir schedule create NAME --file F --cron EXPR</code> or <code>pipeline.schedule({"{ name, cron }"})</code>.
        </Empty>
      )}
      {schedules && schedules.length > 0 && (
        <div className="card">
          <table className="runs-table schedules-table">
            <thead>
              <tr>
                <th>Schedule</th>
                <th>Pipeline</th>
                <th>Cron</th>
                <th>State</th>
                <th>Next run</th>
                <th>Recent runs</th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <tr key={s.id} className="schedule-row" data-schedule={s.name}>
                  <td>
                    <div className="run-name">{s.name}</div>
                    <div className="subtle">
                      catch-up {s.catchup === "all" ? `all (≤ ${s.catchupLimit})` : s.catchup} · overlap {s.overlap}
                    </div>
                  </td>
                  <td>
                    <Link to={`/?q=${encodeURIComponent(s.pipelineName)}`} className="pipeline">
                      {s.pipelineName}
                    </Link>
                  </td>
                  <td>
                    <code>{s.cron}</code>
                    <div className="subtle">{s.timezone ?? "UTC"}</div>
                  </td>
                  <td>{s.paused ? <span className="tag">paused</span> : s.native ? <span className="tag">native</span> : <span className="tag live">active</span>}</td>
                  <td className="next-fire">
                    {s.paused || s.nextFireAt === null ? (
                      <span className="subtle">—</span>
                    ) : (
                      <>
                        <div>{when(s.nextFireAt)}</div>
                        <div className="subtle">{inFuture(s.nextFireAt)}</div>
                      </>
                    )}
                  </td>
                  <td>
                    {s.recentRuns.length === 0 ? (
                      <span className="subtle">none yet</span>
                    ) : (
                      <div className="recent-runs">
                        {s.recentRuns.slice(0, 5).map((r) => (
                          <Link key={r.id} to={`/runs/${r.id}`} className="recent-run">
                            <StatusBadge status={r.status} dead={(r.status === "running" || r.status === "initializing") && !r.alive} />
                            <span className="subtle">{ago(r.scheduledFor ?? r.createdAt)}</span>
                          </Link>
                        ))}
                        {s.recentRuns.length > 0 && (
                          <Link to={`/?schedule=${encodeURIComponent(s.name)}`} className="subtle">
                            all runs →
                          </Link>
                        )}
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function inFuture(ms: number): string {
  const seconds = Math.round((ms - Date.now()) / 1000);
  if (seconds <= 0) return "due now";
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86_400)} d`;
}
