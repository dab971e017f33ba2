import { useEffect, useRef, useState } from "react";
import type { ApiArtifact, ApiStepDetail, ApiStepRun, LogLine } from "../../src/server/types";
import { api } from "./api";
import { ArtifactMeta, JsonTree, Preview } from "./ArtifactPreview";
import { ErrorNote, StatusBadge } from "./components";
import { duration, isActive, when } from "./format";

/** Log lines of one step run; while it runs, new lines are fetched after the last id. */
function Logs({ runId, name, following }: { runId: string; name: string; following: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const last = useRef<number | undefined>(undefined);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    last.current = undefined;
    setLines([]);
  }, [runId, name]);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const load = async () => {
      try {
        const after = last.current === undefined ? "" : `&after=${last.current}`;
        const page = await api<{ lines: LogLine[] }>(`/api/runs/${encodeURIComponent(runId)}/logs?step=${encodeURIComponent(name)}${after}`);
        if (stop) return;
        if (page.lines.length > 0) {
          last.current = page.lines[page.lines.length - 1].id;
          setLines((old) => [...old, ...page.lines]);
        }
      } catch (e) {
        if (!stop) setError(e);
      }
      if (!stop && following) timer = setTimeout(load, 700);
    };
    void load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [runId, name, following]);
  useEffect(() => {
    if (following && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, following]);
  if (error) return <ErrorNote error={error} />;
  return (
    <div className="logs" ref={box} data-testid="logs">
      {lines.length === 0 && <div className="subtle">{following ? "Waiting for output…" : "No log lines."}</div>}
      {lines.map((l) => (
        <div key={l.id} className={`log-line log-${l.stream}`}>
          <span className="log-time">{new Date(l.at).toLocaleTimeString([], { hour12: false })}</span>
          <span className="log-stream">{l.stream}</span>
          <span className="log-msg">{l.message}</span>
        </div>
      ))}
      {following && <div className="log-following">following…</div>}
    </div>
  );
}

function ArtifactRow({ label, artifact, onOpenStep }: { label: string; artifact: ApiArtifact; onOpenStep?: (name: string) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="artifact-row">
      <div className="artifact-line">
        <span className="mono artifact-label">{label}</span>
        <ArtifactMeta artifact={artifact} />
        <div className="spacer" />
        {artifact.producer && onOpenStep && (
          <button className="link" onClick={() => onOpenStep(artifact.producer!.invocationId)} title="Open the step run that produced it">
            from {artifact.producer.invocationId}
          </button>
        )}
        <a className="link" href={`#/artifacts/${artifact.id}`}>
          open
        </a>
        <button className="ghost small" onClick={() => setOpen(!open)} data-testid="preview-toggle">
          {open ? "Hide" : "Preview"}
        </button>
      </div>
      {open && <Preview id={artifact.id} />}
    </div>
  );
}

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section className="drawer-section">
      <h3>{title}</h3>
      {children}
    </section>
  );
}

export function StepDrawer({ runId, name, live, onOpen, onClose }: { runId: string; name: string; live?: ApiStepRun; onOpen: (name: string) => void; onClose: () => void }) {
  const [detail, setDetail] = useState<ApiStepDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Re-read when the live stream says the step run changed (a new attempt, its end).
  const version = live ? `${live.status}|${live.attempt}|${live.endedAt}` : "";
  useEffect(() => {
    let current = true;
    api<ApiStepDetail>(`/api/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(name)}`).then(
      (d) => current && (setDetail(d), setError(null)),
      (e) => current && setError(e),
    );
    return () => {
      current = false;
    };
  }, [runId, name, version]);
  useEffect(() => {
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [onClose]);
  const status = live?.status ?? detail?.status;
  return (
    <aside className="drawer" data-testid="step-drawer">
      <div className="drawer-head">
        <div>
          <div className="subtle small-caps">Step run</div>
          <h2 className="mono">{name}</h2>
        </div>
        <div className="spacer" />
        <button className="ghost" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </div>
      {error !== null && <ErrorNote error={error} />}
      {detail && (
        <div className="drawer-body">
          <div className="kv">
            <span>Status</span>
            <span>
              <StatusBadge status={status ?? detail.status} />
            </span>
            <span>Step</span>
            <span className="mono">{detail.stepName}</span>
            {detail.mappingKey && (
              <>
                <span>Mapping key</span>
                <span className="mono">{detail.mappingKey}</span>
              </>
            )}
            <span>Started</span>
            <span>{when(detail.startedAt)}</span>
            <span>Duration</span>
            <span>{duration(detail.durationMs)}</span>
            <span>Attempts</span>
            <span>{detail.attempt}</span>
            {detail.cacheKey && (
              <>
                <span>Cache key</span>
                <span className="mono ellipsis" title={detail.cacheKey}>
                  {detail.cacheKey.slice(0, 16)}
                </span>
              </>
            )}
            {detail.upstream.length > 0 && (
              <>
                <span>Upstream</span>
                <span className="chips">
                  {detail.upstream.map((u) => (
                    <button key={u} className="chip" onClick={() => onOpen(u)}>
                      {u}
                    </button>
                  ))}
                </span>
              </>
            )}
          </div>
          {detail.error && <div className="error-banner">{detail.error}</div>}
          {detail.attempts.length > 0 && (
            <Section title="Attempts">
              <ol className="attempts">
                {detail.attempts.map((a) => (
                  <li key={a.attempt}>
                    <span className="tag fail">attempt {a.attempt}</span> <span className="mono">{a.error}</span>
                  </li>
                ))}
              </ol>
            </Section>
          )}
          <Section title={`Inputs (${detail.inputs.length})`}>
            {detail.inputs.length === 0 && <div className="subtle">No artifact inputs.</div>}
            {detail.inputs.map((i) => (
              <ArtifactRow key={i.name} label={i.name} artifact={i.artifact} onOpenStep={onOpen} />
            ))}
            {Object.keys(detail.parameters).length > 0 && (
              <div className="json-box">
                <div className="subtle small-caps">parameters</div>
                <JsonTree value={detail.parameters} />
              </div>
            )}
          </Section>
          <Section title={`Outputs (${detail.outputs.length})`}>
            {detail.outputs.length === 0 && <div className="subtle">{isActive(detail.status) ? "Not produced yet." : "No outputs."}</div>}
            {detail.outputs.map((o) => (
              <ArtifactRow key={`${o.name}:${o.mappingKey}`} label={o.mappingKey ? `${o.name}[${o.mappingKey}]` : o.name} artifact={o.artifact} />
            ))}
          </Section>
          <Section title="Logs">
            <Logs runId={runId} name={name} following={isActive(status ?? detail.status)} />
          </Section>
          {detail.resources && Object.keys(detail.resources).length > 0 && (
            <Section title="Resources">
              <div className="chips">
                {Object.entries(detail.resources).map(([k, v]) => (
                  <span key={k} className="chip static">
                    {k} <b>{String(v)}</b>
                  </span>
                ))}
              </div>
            </Section>
          )}
          <Section title="Configuration">
            <div className="json-box">
              <JsonTree value={detail.configuration} />
            </div>
          </Section>
          {Object.keys(detail.metadata).length > 0 && (
            <Section title="Metadata">
              <div className="json-box">
                <JsonTree value={detail.metadata} />
              </div>
            </Section>
          )}
        </div>
      )}
      {!detail && error === null && <div className="loading">Loading…</div>}
    </aside>
  );
}
