import { useEffect, useState } from "react";
import type { ApiPage, ApiRun, ApiRunDetail, ApiRunDiff, ApiStepRun } from "../../src/server/types";
import { api } from "./api";
import { Empty, ErrorNote, StatusBadge } from "./components";
import { shortId, when } from "./format";
import { navigate } from "./router";

type Row = { name: string; kind: "only-a" | "only-b" | "upstream" | "status" | "same"; a?: ApiStepRun; b?: ApiStepRun; note?: string };

function RunPicker({ label, value, runs, onChange }: { label: string; value: string; runs: ApiRun[]; onChange: (id: string) => void }) {
  return (
    <label className="picker">
      <span className="small-caps subtle">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose a run…</option>
        {runs.map((r) => (
          <option key={r.id} value={r.id}>
            {r.name} · {r.pipelineName} · {r.status} · {shortId(r.id)}
          </option>
        ))}
      </select>
    </label>
  );
}

/** `weir runs diff A B` as a view: which step runs only one run has, and whose inputs differ. */
export function DiffPage({ a, b }: { a: string; b: string }) {
  const [runs, setRuns] = useState<ApiRun[]>([]);
  const [diff, setDiff] = useState<ApiRunDiff | null>(null);
  const [rows, setRows] = useState<Row[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [showSame, setShowSame] = useState(false);
  // Re-read on every pick, so runs that finished since the page opened can be chosen.
  useEffect(() => {
    api<ApiPage<ApiRun>>("/api/runs?limit=200").then((p) => setRuns(p.items), setError);
  }, [a, b]);
  useEffect(() => {
    if (!a || !b) return;
    setDiff(null);
    Promise.all([
      api<ApiRunDiff>(`/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`),
      api<ApiRunDetail>(`/api/runs/${encodeURIComponent(a)}`),
      api<ApiRunDetail>(`/api/runs/${encodeURIComponent(b)}`),
    ]).then(([d, ra, rb]) => {
      const inA = new Map(ra.steps.map((s) => [s.name, s]));
      const inB = new Map(rb.steps.map((s) => [s.name, s]));
      const changed = new Map(d.changed.map((c) => [c.name, c]));
      const status = new Set(d.statusChanged.map((c) => c.name));
      const names = [...new Set([...ra.steps.map((s) => s.name), ...rb.steps.map((s) => s.name)])];
      setRows(
        names.map((name): Row => {
          const sa = inA.get(name);
          const sb = inB.get(name);
          if (!sb) return { name, kind: "only-a", a: sa };
          if (!sa) return { name, kind: "only-b", b: sb };
          const c = changed.get(name);
          if (c) return { name, kind: "upstream", a: sa, b: sb, note: `A ← [${c.a.join(", ")}]   B ← [${c.b.join(", ")}]` };
          return { name, kind: status.has(name) ? "status" : "same", a: sa, b: sb };
        }),
      );
      setDiff(d);
    }, setError);
  }, [a, b]);
  const pick = (which: "a" | "b", id: string) => navigate(`/diff?a=${which === "a" ? id : a}&b=${which === "b" ? id : b}`);
  const visible = rows.filter((r) => showSame || r.kind !== "same");
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Compare runs</h1>
          <div className="subtle">Where two runs' executed graphs diverge.</div>
        </div>
      </div>
      <div className="filters">
        <RunPicker label="Run A" value={a} runs={runs} onChange={(id) => pick("a", id)} />
        <RunPicker label="Run B" value={b} runs={runs} onChange={(id) => pick("b", id)} />
      </div>
      {error !== null && <ErrorNote error={error} />}
      {(!a || !b) && <Empty title="Choose two runs">Or tick two runs in the runs list and press Compare.</Empty>}
      {diff && (
        <>
          <div className="diff-summary">
            {[diff.a, diff.b].map((r, i) => (
              <a key={r.id} className="card pad diff-run" href={`#/runs/${r.id}`}>
                <span className="diff-letter">{i === 0 ? "A" : "B"}</span>
                <div>
                  <div className="run-name">{r.name}</div>
                  <div className="subtle">
                    {r.pipelineName} · {when(r.startedAt ?? r.createdAt)} · {r.stepTotal} step runs
                  </div>
                </div>
                <div className="spacer" />
                <StatusBadge status={r.status} />
              </a>
            ))}
          </div>
          <div className="diff-stats">
            <span className={diff.onlyA.length + diff.onlyB.length + diff.changed.length === 0 ? "same-graph" : "diverged"}>
              {diff.onlyA.length + diff.onlyB.length + diff.changed.length === 0 ? "Same graph" : "Graphs diverge"}
            </span>
            <span>{diff.common} in both</span>
            <span className="fg-failed">{diff.onlyA.length} only in A</span>
            <span className="fg-completed">{diff.onlyB.length} only in B</span>
            <span className="fg-pending-dark">{diff.changed.length} with different inputs</span>
            <span>{diff.statusChanged.length} with a different status</span>
            <div className="spacer" />
            <label className="subtle">
              <input type="checkbox" checked={showSame} onChange={(e) => setShowSame(e.target.checked)} /> show unchanged
            </label>
          </div>
          <div className="card">
            <table className="diff-table">
              <thead>
                <tr>
                  <th />
                  <th>Step run</th>
                  <th>A</th>
                  <th>B</th>
                  <th>Difference</th>
                </tr>
              </thead>
              <tbody>
                {visible.map((r) => (
                  <tr key={r.name} className={`diff-${r.kind}`} data-testid="diff-row">
                    <td className="diff-mark">{{ "only-a": "−", "only-b": "+", upstream: "~", status: "•", same: "" }[r.kind]}</td>
                    <td className="mono">{r.name}</td>
                    <td>{r.a ? <StatusBadge status={r.a.status} /> : <span className="subtle">—</span>}</td>
                    <td>{r.b ? <StatusBadge status={r.b.status} /> : <span className="subtle">—</span>}</td>
                    <td className="subtle mono">
                      {r.kind === "only-a" ? "only in A" : r.kind === "only-b" ? "only in B" : r.kind === "status" ? "status differs" : (r.note ?? "")}
                    </td>
                  </tr>
                ))}
                {visible.length === 0 && (
                  <tr>
                    <td colSpan={5} className="subtle center">
                      No differences in the graph.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
