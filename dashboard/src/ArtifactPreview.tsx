import { useEffect, useState } from "react";
import type { ApiArtifact, ApiPreview } from "../../src/server/types";
import { api, blobUrl } from "./api";
import { ErrorNote } from "./components";
import { bytes, when } from "./format";

/** A collapsible JSON tree: objects and arrays open two levels deep. */
export function JsonTree({ value, name, depth = 0 }: { value: unknown; name?: string; depth?: number }) {
  const [open, setOpen] = useState(depth < 2);
  const label = name !== undefined ? <span className="jt-key">{name}: </span> : null;
  if (value === null || typeof value !== "object") {
    const kind = value === null ? "null" : typeof value;
    return (
      <div className="jt-line">
        {label}
        <span className={`jt-${kind}`}>{typeof value === "string" ? JSON.stringify(value) : String(value)}</span>
      </div>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const [l, r] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) {
    return (
      <div className="jt-line">
        {label}
        <span className="jt-brace">{`${l}${r}`}</span>
      </div>
    );
  }
  return (
    <div className="jt-node">
      <div className="jt-line jt-toggle" onClick={() => setOpen(!open)}>
        <span className="jt-caret">{open ? "▾" : "▸"}</span>
        {label}
        <span className="jt-brace">{l}</span>
        {!open && <span className="subtle"> {entries.length} {Array.isArray(value) ? "items" : "keys"} </span>}
        {!open && <span className="jt-brace">{r}</span>}
      </div>
      {open && (
        <div className="jt-children">
          {entries.slice(0, 500).map(([k, v]) => (
            <JsonTree key={k} name={k} value={v} depth={depth + 1} />
          ))}
          {entries.length > 500 && <div className="subtle">… {entries.length - 500} more</div>}
        </div>
      )}
      {open && <div className="jt-line jt-brace">{r}</div>}
    </div>
  );
}

function ImagePreview({ url, mime }: { url: string; mime: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let made: string | undefined;
    blobUrl(url)
      .then((u) => setSrc((made = u)))
      .catch(setError);
    return () => {
      if (made) URL.revokeObjectURL(made);
    };
  }, [url]);
  if (error) return <ErrorNote error={error} />;
  return src ? <img className="preview-image" src={src} alt={`artifact (${mime})`} data-testid="preview-image" /> : <div className="loading">Loading image…</div>;
}

export function Preview({ id }: { id: string }) {
  const [preview, setPreview] = useState<ApiPreview | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<ApiPreview>(`/api/artifacts/${encodeURIComponent(id)}/preview`).then(setPreview, setError);
  }, [id]);
  if (error) return <ErrorNote error={error} />;
  if (!preview) return <div className="loading">Loading preview…</div>;
  return (
    <div className={`preview preview-${preview.kind}`} data-testid="artifact-preview" data-kind={preview.kind}>
      {preview.kind === "json" && <JsonTree value={preview.value} />}
      {preview.kind === "text" && (
        <pre className="preview-text">
          {preview.text}
          {preview.truncated && <span className="subtle">{"\n"}… (truncated)</span>}
        </pre>
      )}
      {preview.kind === "table" && (
        <div className="preview-table-wrap">
          <table className="preview-table">
            <thead>
              <tr>
                {preview.columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {preview.rows.map((row, i) => (
                <tr key={i}>
                  {preview.columns.map((c) => (
                    <td key={c} className={typeof row[c] === "number" ? "num" : ""}>
                      {row[c] === undefined ? "" : String(row[c])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {preview.total > preview.rows.length && <div className="subtle">first {preview.rows.length} of {preview.total} rows</div>}
        </div>
      )}
      {preview.kind === "image" && <ImagePreview url={preview.contentUrl} mime={preview.mime} />}
      {preview.kind === "unavailable" && <div className="subtle">{preview.reason}</div>}
    </div>
  );
}

export function ArtifactMeta({ artifact }: { artifact: ApiArtifact }) {
  return (
    <div className="artifact-meta">
      <span className="tag">{artifact.dataType}</span>
      <span className="subtle">v{artifact.version}</span>
      <span className="subtle">{bytes(artifact.size)}</span>
      <span className="subtle">{artifact.materializer}</span>
    </div>
  );
}

/** `#/artifacts/:id`: one artifact version on its own page. */
export function ArtifactPage({ id }: { id: string }) {
  const [artifact, setArtifact] = useState<ApiArtifact | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<ApiArtifact>(`/api/artifacts/${encodeURIComponent(id)}`).then(setArtifact, setError);
  }, [id]);
  if (error) return <div className="page"><ErrorNote error={error} /></div>;
  if (!artifact) return <div className="page"><div className="loading">Loading…</div></div>;
  return (
    <div className="page">
      <div className="crumbs">
        <a href="#/">Runs</a> <span>/</span> <span>artifact</span>
      </div>
      <div className="page-head">
        <div>
          <h1 className="mono">{artifact.artifactName}</h1>
          <ArtifactMeta artifact={artifact} />
          <div className="subtle">created {when(artifact.createdAt)} · hash {artifact.contentHash.slice(0, 16)}</div>
        </div>
      </div>
      <div className="card pad">
        <Preview id={artifact.id} />
      </div>
    </div>
  );
}
