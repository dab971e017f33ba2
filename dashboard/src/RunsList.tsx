import { useEffect, useState } from "react";
import type { ApiPage, ApiRun } from "../../src/server/types";
import { api } from "./api";
import { CountsBar, Empty, ErrorNote, StatusBadge } from "./components";
import { ago, duration, isActive, shortId, when } from "./format";
import { navigate, withQuery, type Route } from "./router";

const PAGE = 50;
type RunsPage = ApiPage<ApiRun> & { pipelines: string[] };

export function RunsList({ route }: { route: Route }) {
  const status = route.query.get("status") ?? "";
  const pipeline = route.query.get("pipeline") ?? "";
  const q = route.query.get("q") ?? "";
  const schedule = route.query.get("schedule") ?? "";
  const offset = Number(route.query.get("offset") ?? 0);
  const [search, setSearch] = useState(q);
  const [page, setPage] = useState<RunsPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<string[]>([]);

  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (status) params.set("status", status);
    if (pipeline) params.set("pipeline", pipeline);
    if (q) params.set("q", q);
    if (schedule) params.set("schedule", schedule);
    const load = async () => {
      try {
        const result = await api<RunsPage>(`/api/runs?${params}`);
        if (stop) return;
        setPage(result);
        setError(null);
      } catch (e) {
        if (!stop) setError(e);
      }
      // Keep the list current while runs are going on.
      if (!stop) timer = setTimeout(load, 3_000);
    };
    void load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [status, pipeline, q, schedule, offset]);

  // Searching as one types, without a history entry per key.
  useEffect(() => {
    const t = setTimeout(() => {
      if (search !== q) navigate(withQuery(route, { q: search, offset: undefined }), true);
    }, 250);
    return () => clearTimeout(t);
  }, [search]); // the route changes on every navigation; only typing should trigger this

  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s.slice(-1), id]));

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Runs</h1>
          <div className="subtle">{page ? `${page.total.toLocaleString()} run${page.total === 1 ? "" : "s"}` : "Loading…"}</div>
        </div>
        <div className="spacer" />
        <button className="primary" disabled={selected.length !== 2} onClick={() => navigate(`/diff?a=${selected[0]}&b=${selected[1]}`)}>
          Compare {selected.length === 2 ? "2 runs" : "runs"}
        </button>
      </div>
      <div className="filters">
        <input className="search" type="search" placeholder="Search by name, pipeline or id…" value={search} onChange={(e) => setSearch(e.target.value)} />
        <select value={status} onChange={(e) => navigate(withQuery(route, { status: e.target.value, offset: undefined }))} aria-label="Status">
          <option value="">All statuses</option>
          {["running", "completed", "failed", "initializing"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select value={pipeline} onChange={(e) => navigate(withQuery(route, { pipeline: e.target.value, offset: undefined }))} aria-label="Pipeline">
          <option value="">All pipelines</option>
          {page?.pipelines.map((p) => <option key={p}>{p}</option>)}
        </select>
        {schedule && (
          <button className="ghost small filter-chip" onClick={() => navigate(withQuery(route, { schedule: undefined, offset: undefined }))}>
            schedule: {schedule} ×
          </button>
        )}
      </div>
      {error !== null && <ErrorNote error={error} />}
      {page && page.items.length === 0 && (
        <Empty title="No runs match">
          Run a pipeline with <code>weir run FILE</code>, or change the filters.
        </Empty>
      )}
      {page && page.items.length > 0 && (
        <div className="card">
          <table className="runs-table">
            <thead>
              <tr>
                <th className="check" />
                <th>Run</th>
                <th>Pipeline</th>
                <th>Status</th>
                <th>Steps</th>
                <th>Started</th>
                <th className="num">Duration</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((r) => (
                <tr key={r.id} className="run-row" data-run={r.id} onClick={() => navigate(`/runs/${r.id}`)}>
                  <td className="check" onClick={(e) => e.stopPropagation()}>
                    <input type="checkbox" checked={selected.includes(r.id)} onChange={() => toggle(r.id)} aria-label={`Select ${r.name}`} />
                  </td>
                  <td>
                    <div className="run-name">{r.name}</div>
                    <div className="mono subtle">{shortId(r.id)}</div>
                  </td>
                  <td>
                    <span className="pipeline">{r.pipelineName}</span>
                    {r.isDynamic && <span className="tag">dynamic</span>}
                  </td>
                  <td>
                    <StatusBadge status={r.status} dead={isActive(r.status) && !r.alive} />
                  </td>
                  <td className="steps-cell">
                    <CountsBar counts={r.stepCounts} total={r.stepTotal} />
                  </td>
                  <td>
                    <div>{when(r.startedAt ?? r.createdAt)}</div>
                    <div className="subtle">{ago(r.startedAt ?? r.createdAt)}</div>
                  </td>
                  <td className="num">{duration(r.durationMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && page.total > PAGE && (
        <div className="pager">
          <button className="ghost" disabled={offset === 0} onClick={() => navigate(withQuery(route, { offset: String(Math.max(0, offset - PAGE)) }))}>
            ← Newer
          </button>
          <span className="subtle">
            {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total.toLocaleString()}
          </span>
          <button className="ghost" disabled={offset + PAGE >= page.total} onClick={() => navigate(withQuery(route, { offset: String(offset + PAGE) }))}>
            Older →
          </button>
        </div>
      )}
    </div>
  );
}
