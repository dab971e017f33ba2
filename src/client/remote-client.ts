import { RunNotFoundError, WeirError } from "../authoring/errors.js";
import type { ArtifactLineage, StepRunDetails } from "./client.js";
import type { PipelineRun, RunSummaryView, StepRunView } from "./run-view.js";
import { defaultMaterializers } from "../materializers/registry.js";
import type { ArtifactVersionRecord, LogLine, RunFilter, SnapshotRecord } from "../stores/metadata/types.js";
import type { ApiArtifact, ApiPage, ApiRun, ApiRunDetail, ApiSchedule, ApiStack, ApiStatus, ApiStepDetail, ApiStepRun } from "../server/types.js";

/** A server refused or failed a request; `status` is its HTTP status. */
export class ServerRequestError extends WeirError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Client's read methods through `weir server` instead of a store (issue 14 item 5):
 * the same views, built from the JSON API; artifact values are loaded here from their bytes
 * with this process's materializers, as a local Client would. URIs stay on the server.
 */
export class RemoteClient {
  readonly url: string;

  constructor(private readonly options: { url: string; token: string }) {
    this.url = options.url.replace(/\/+$/, "");
  }

  async getRun(id: string): Promise<PipelineRun> {
    const detail = await this.json<ApiRunDetail>(`/api/runs/${encodeURIComponent(id)}`);
    return this.runView(detail.run, detail.steps, detail.output, detail.parameters);
  }

  async listRuns(filter: RunFilter = {}): Promise<PipelineRun[]> {
    return Promise.all((await this.runPage(filter)).map((r) => this.getRun(r.id)));
  }

  /**
   * The runs as the server lists them, with their step counts (no step runs fetched): each
   * run's parameters come from its snapshot, its output is fetched when `output()` is called.
   */
  async listRunSummaries(filter: RunFilter = {}): Promise<RunSummaryView[]> {
    return Promise.all(
      (await this.runPage(filter)).map(async (run) => {
        const parameters = (await this.getSnapshot(run.snapshotId))?.parameters ?? {};
        const { steps: _none, ...view } = this.runView(run, [], null, parameters);
        return { ...view, output: async () => (await this.getRun(run.id)).output(), stepCount: run.stepTotal, stepCounts: { ...run.stepCounts } };
      }),
    );
  }

  private runPage(filter: RunFilter): Promise<ApiRun[]> {
    const query = new URLSearchParams({ limit: String(Math.min(filter.limit ?? 500, 500)) });
    if (filter.pipelineName) query.set("pipeline", filter.pipelineName);
    if (filter.status) query.set("status", filter.status);
    return this.json<ApiPage<ApiRun>>(`/api/runs?${query}`).then((page) => page.items);
  }

  /** Undefined for an unknown id, as a store answers. */
  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    try {
      return await this.json<SnapshotRecord>(`/api/snapshots/${encodeURIComponent(id)}`);
    } catch (error) {
      if (error instanceof RunNotFoundError) return undefined;
      throw error;
    }
  }

  async getStepRun(runId: string, name: string): Promise<StepRunDetails> {
    const path = `/api/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(name)}`;
    const [d, logs] = await Promise.all([this.json<ApiStepDetail>(path), this.getLogs(runId, name)]);
    return {
      ...stepView(d),
      runId: d.runId,
      configuration: d.configuration,
      inputs: d.inputs.map((i) => ({ name: i.name, artifact: versionRecord(i.artifact) })),
      outputs: d.outputs.map((o) => ({ name: o.name, mappingKey: o.mappingKey, artifact: versionRecord(o.artifact) })),
      durationMs: d.durationMs,
      logs,
    };
  }

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    const query = new URLSearchParams({ limit: String(Math.min(filter.limit ?? 1000, 1000)) });
    if (filter.artifactName) query.set("name", filter.artifactName);
    return (await this.json<{ items: ApiArtifact[] }>(`/api/artifacts?${query}`)).items.map(versionRecord);
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord> {
    return versionRecord(await this.json<ApiArtifact>(`/api/artifacts/${encodeURIComponent(id)}`));
  }

  async loadArtifact(id: string): Promise<unknown> {
    const response = await this.request(`/api/artifacts/${encodeURIComponent(id)}/content`);
    const materializer = response.headers.get("x-weir-materializer");
    const dataType = decodeURIComponent(response.headers.get("x-weir-data-type") ?? "");
    if (!materializer) throw new ServerRequestError(response.status, `the server sent artifact ${id} without its materializer`);
    return defaultMaterializers().byName(materializer).load(new Uint8Array(await response.arrayBuffer()), dataType);
  }

  async getArtifactLineage(versionId: string): Promise<ArtifactLineage> {
    return this.json<ArtifactLineage>(`/api/artifacts/${encodeURIComponent(versionId)}/lineage`);
  }

  async getLogs(runId: string, stepName?: string, afterId?: number): Promise<LogLine[]> {
    const query = new URLSearchParams({ limit: "10000" });
    if (stepName) query.set("step", stepName);
    if (afterId !== undefined) query.set("after", String(afterId));
    return (await this.json<{ lines: LogLine[] }>(`/api/runs/${encodeURIComponent(runId)}/logs?${query}`)).lines;
  }

  // Stacks, schedules and the server's status are not Client methods: `weir stack`,
  // `weir schedule list` and `weir status` read them here when WEIR_SERVER_URL is set.
  async listStacks(): Promise<ApiStack[]> {
    return (await this.json<{ items: ApiStack[] }>("/api/stacks")).items;
  }

  async listSchedules(): Promise<ApiSchedule[]> {
    return (await this.json<{ items: ApiSchedule[] }>("/api/schedules")).items;
  }

  async status(): Promise<ApiStatus> {
    return this.json<ApiStatus>("/api/status");
  }

  private runView(run: ApiRun, steps: ApiStepRun[], output: unknown, parameters: Record<string, unknown>): PipelineRun {
    return {
      id: run.id,
      name: run.name,
      pipelineName: run.pipelineName,
      status: run.status,
      isDynamic: run.isDynamic,
      error: run.error,
      stackName: run.stackName,
      snapshotId: run.snapshotId,
      orchestratorRunId: run.orchestratorRunId,
      scheduleName: run.scheduleName,
      scheduledFor: toDate(run.scheduledFor),
      createdAt: new Date(run.createdAt),
      startedAt: toDate(run.startedAt),
      endedAt: toDate(run.endedAt),
      fingerprint: run.fingerprint,
      parameters,
      alive: run.alive,
      steps: steps.map(stepView),
      output: () => this.decode(output),
    };
  }

  /** Replaces `{ $artifact: id }` references with the loaded values, deeply. */
  private async decode(value: unknown): Promise<unknown> {
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.decode(v)));
    if (value === null || typeof value !== "object") return value;
    const record = value as Record<string, unknown>;
    if (typeof record.$artifact === "string") {
      const loaded = await this.loadArtifact(record.$artifact);
      return typeof record.$index === "number" ? (loaded as unknown[])[record.$index] : loaded;
    }
    const entries = await Promise.all(Object.entries(record).map(async ([k, v]) => [k, await this.decode(v)] as const));
    return Object.fromEntries(entries);
  }

  private async request(path: string): Promise<Response> {
    const response = await fetch(`${this.url}${path}`, { headers: { Authorization: `Bearer ${this.options.token}` } });
    if (response.ok) return response;
    const message = ((await response.json().catch(() => ({}))) as { error?: string }).error ?? response.statusText;
    if (response.status === 404) throw new RunNotFoundError(message);
    throw new ServerRequestError(response.status, `weir server at ${this.url} answered ${response.status}: ${message}`);
  }

  private async json<T>(path: string): Promise<T> {
    return (await this.request(path)).json() as Promise<T>;
  }
}

function stepView(s: ApiStepRun): StepRunView {
  return {
    id: s.id,
    name: s.name,
    stepName: s.stepName,
    status: s.status,
    mappingKey: s.mappingKey,
    attempts: s.attempt,
    startedAt: toDate(s.startedAt),
    endedAt: toDate(s.endedAt),
    error: s.error,
    cacheKey: s.cacheKey,
    originalStepRunId: s.originalStepRunId,
    upstream: s.upstream,
    parameters: s.parameters,
    metadata: s.metadata,
  };
}

/** The server keeps URIs to itself: a remote record names the version instead. */
function versionRecord(a: ApiArtifact): ArtifactVersionRecord {
  const { producer: _producer, ...rest } = a;
  return { ...rest, uri: `weir-server:${a.id}` };
}

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}
