import { useEffect, useMemo, useState } from "react";
import type { ApiRun, ApiRunDetail, ApiStepRun } from "../../src/server/types";
import { api, followRun } from "./api";
import { CountsBar, ErrorNote, StatusBadge } from "./components";
import { DagView } from "./DagView";
import { duration, isActive, when } from "./format";
import { navigate, withQuery, type Route } from "./router";
import { StepDrawer } from "./StepDrawer";
import { StepsTable } from "./StepsTable";
import { Timeline } from "./Timeline";

const TABS = [
  ["graph", "Graph"],
  ["timeline", "Timeline"],
  ["steps", "Steps"],
] as const;

/** The run and its step runs, kept current by the SSE stream while the run goes on. */
function useLiveRun(runId: string) {
  const [run, setRun] = useState<ApiRun | null>(null);
  const [steps, setSteps] = useState<Map<string, ApiStepRun>>(new Map());
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState(false);
  useEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    api<ApiRunDetail>(`/api/runs/${encodeURIComponent(runId)}`)
      .then((detail) => {
        if (cancelled) return;
        setRun(detail.run);
        setSteps(new Map(detail.steps.map((s) => [s.id, s])));
        if (!isActive(detail.run.status)) return;
        let status: ApiRun["status"] = detail.run.status;
        const follow = () => {
          setLive(true);
          stop = followRun(
            detail.run.id,
            (change) => {
              status = change.run.status;
              setRun(change.run);
              if (change.steps.length > 0) {
                setSteps((old) => {
                  const next = new Map(old);
                  for (const s of change.steps) next.set(s.id, s);
                  return next;
                });
              }
            },
            () => {
              setLive(false);
              // A dropped stream of a run still going on is picked up again (it resends every step run).
              if (!cancelled && isActive(status)) setTimeout(() => !cancelled && follow(), 1_000);
            },
          );
        };
        follow();
      })
      .catch(setError);
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [runId]);
  const list = useMemo(() => [...steps.values()].sort((a, b) => a.position - b.position), [steps]);
  return { run, steps: list, error, live };
}

export function RunPage({ runId, route }: { runId: string; route: Route }) {
  const { run, steps, error, live } = useLiveRun(runId);
  const tab = route.query.get("tab") ?? "graph";
  const selected = route.query.get("step");
  const filter = route.query.get("filter") ?? "";
  const open = (name: string | null) => navigate(withQuery(route, { step: name ?? undefined }), true);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(t);
  }, [live]);

  if (error) return <div className="page"><ErrorNote error={error} /></div>;
  if (!run) return <div className="page"><div className="loading">Loading run…</div></div>;
  const elapsed = run.durationMs ?? (run.startedAt ? now - run.startedAt : null);
  return (
    <div className="page run-page">
      <div className="crumbs">
        <a href="#/">Runs</a> <span>/</span> <span>{run.pipelineName}</span>
      </div>
      <div className="page-head">
        <div>
          <h1>
            {run.name} <StatusBadge status={run.status} dead={isActive(run.status) && !run.alive} />
            {live && <span className="live">live</span>}
          </h1>
          <div className="facts">
            <span>
              <b>Pipeline</b> {run.pipelineName}
              {run.isDynamic && <span className="tag">dynamic</span>}
            </span>
            <span>
              <b>Stack</b> {run.stackName}
            </span>
            <span>
              <b>Started</b> {when(run.startedAt ?? run.createdAt)}
            </span>
            <span>
              <b>Duration</b> {duration(elapsed)}
            </span>
            <span className="mono subtle" title="run id">
              {run.id}
            </span>
          </div>
        </div>
        <div className="spacer" />
        <div className="head-counts">
          <CountsBar counts={run.stepCounts} total={run.stepTotal} />
          <div className="subtle">step runs</div>
        </div>
      </div>
      {run.error && <div className="error-banner">{run.error}</div>}
      <div className="tabs">
        {TABS.map(([key, label]) => (
          <button key={key} className={tab === key ? "tab active" : "tab"} onClick={() => navigate(withQuery(route, { tab: key }), true)}>
            {label}
            {key === "steps" && <span className="tab-count">{steps.length.toLocaleString()}</span>}
          </button>
        ))}
      </div>
      <div className="tab-body">
        {tab === "graph" && <DagView steps={steps} selected={selected} onOpen={open} onShowGroup={(g) => navigate(withQuery(route, { tab: "steps", filter: g }), true)} />}
        {tab === "timeline" && <Timeline steps={steps} now={now} selected={selected} onOpen={open} />}
        {tab === "steps" && (
          <StepsTable steps={steps} filter={filter} onFilter={(f) => navigate(withQuery(route, { filter: f }), true)} selected={selected} onOpen={open} />
        )}
      </div>
      {selected && <StepDrawer key={selected} runId={run.id} name={selected} live={steps.find((s) => s.name === selected)} onOpen={open} onClose={() => open(null)} />}
    </div>
  );
}
