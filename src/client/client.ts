import { RunNotFoundError } from "../authoring/errors.js";
import { openMetadataStore, weirHome } from "../config/home.js";
import type { ArtifactVersionRecord, LogLine, MetadataStore, RunFilter, SnapshotRecord, StepRunRecord } from "../stores/metadata/types.js";
import { loadStoredArtifact } from "../materializers/io.js";
import { defaultMaterializers } from "../materializers/registry.js";
import { resolveArtifactStore } from "../stores/artifacts/resolve.js";
import { RemoteClient, ServerRequestError } from "./remote-client.js";
import { buildRunSummaryView, buildRunView, stepView, type PipelineRun, type RunSummaryView, type StepRunView } from "./run-view.js";

/** A step run with everything recorded about it. */
export interface StepRunDetails extends StepRunView {
  runId: string;
  /** Resolved settings, retry, timeout, … (from the step run for dynamic runs, from the snapshot for static ones). */
  configuration: unknown;
  inputs: { name: string; artifact: ArtifactVersionRecord }[];
  outputs: { name: string; mappingKey: string | null; artifact: ArtifactVersionRecord }[];
  durationMs: number | null;
  logs: LogLine[];
}

/** Where an artifact version came from and where it went: step runs by run and invocation id. */
export interface ArtifactLineage {
  /** The step run output (or dynamic-output item) that stored it; null for a value a pipeline returned. */
  producedBy: { runId: string; stepRunId: string; invocationId: string; outputName: string; mappingKey: string | null } | null;
  /** Step runs that produced it again from the cache, reusing this version. */
  reusedBy: { runId: string; stepRunId: string; invocationId: string; outputName: string; mappingKey: string | null }[];
  consumedBy: { runId: string; stepRunId: string; invocationId: string; inputName: string }[];
}

/** A named artifact version with its lineage; `load()` reads its value. */
export interface ArtifactDetails extends ArtifactVersionRecord, ArtifactLineage {
  load(): Promise<unknown>;
}

/** Reads back everything weir recorded: runs, step runs, artifacts, logs. */
export interface ClientOptions {
  /** Read this home's store (default: the one `WEIR_HOME` / `.weir/` / `WEIR_STORE_URL` name). */
  home?: string;
  /** Read through `weir server` at this URL instead of a store (default: `WEIR_SERVER_URL`). */
  url?: string;
  /** The server's bearer token (default: `WEIR_SERVER_TOKEN`). */
  token?: string;
}

export class Client {
  private readonly home: string;
  /** Set when the client reads through a server: every read goes there. */
  private readonly remote: RemoteClient | undefined;

  constructor(options: ClientOptions = {}) {
    this.home = options.home ?? weirHome();
    // An explicit home means a store; otherwise a server URL (given, or WEIR_SERVER_URL) wins.
    const url = options.url ?? (options.home === undefined ? process.env.WEIR_SERVER_URL || undefined : undefined);
    if (url) {
      const token = options.token ?? process.env.WEIR_SERVER_TOKEN;
      if (!token) throw new ServerRequestError(401, `reading through the server at ${url} needs its token: pass { token } or set WEIR_SERVER_TOKEN`);
      this.remote = new RemoteClient({ url, token });
    }
  }

  /** Whether this client reads through a server (`new Client({ url, token })`, WEIR_SERVER_URL). */
  get isRemote(): boolean {
    return this.remote !== undefined;
  }

  /** The server this client reads through, if any (the CLI reads stacks, schedules and status there). */
  get server(): RemoteClient | undefined {
    return this.remote;
  }

  /** The metadata store this client reads (opened once per process). */
  store(): Promise<MetadataStore> {
    if (this.remote) return Promise.reject(new RunNotFoundError("this Client reads through a server (WEIR_SERVER_URL); it has no store of its own"));
    return openMetadataStore(this.home);
  }

  async getRun(id: string): Promise<PipelineRun> {
    if (this.remote) return this.remote.getRun(id);
    const store = await this.store();
    const run = (await store.getRun(id)) ?? (await this.findRunByName(store, id));
    if (!run) throw new RunNotFoundError(`no run with id or name "${id}"`);
    return buildRunView(store, run);
  }

  async listRuns(filter: RunFilter = {}): Promise<PipelineRun[]> {
    if (this.remote) return this.remote.listRuns(filter);
    const store = await this.store();
    return Promise.all((await store.listRuns(filter)).map((r) => buildRunView(store, r)));
  }

  /**
   * Runs as listed (`weir runs list`): each run's view without its step runs, with how many
   * it has in each status, counted by the store in one query instead of reading every step run
   * (through a server: its run list, which carries the counts).
   */
  async listRunSummaries(filter: RunFilter = {}): Promise<RunSummaryView[]> {
    if (this.remote) return this.remote.listRunSummaries(filter);
    const store = await this.store();
    return Promise.all((await store.listRunSummaries(filter)).map((summary) => buildRunSummaryView(store, summary)));
  }

  async getSnapshot(id: string): Promise<SnapshotRecord | undefined> {
    if (this.remote) return this.remote.getSnapshot(id);
    return (await this.store()).getSnapshot(id);
  }

  /** One step run of a run, by invocation id (`process_file[a_txt]`). */
  async getStepRun(runId: string, name: string): Promise<StepRunDetails> {
    if (this.remote) return this.remote.getStepRun(runId, name);
    const store = await this.store();
    const run = await this.getRun(runId);
    const record = await store.findStepRun(run.id, name);
    if (!record) {
      throw new RunNotFoundError(`run ${run.id} has no step run "${name}" (it has: ${run.steps.map((s) => s.name).join(", ") || "none"})`);
    }
    const artifact = async (id: string) => {
      const version = await store.getArtifactVersion(id);
      if (!version) throw new Error(`artifact version ${id} is missing from the metadata store`);
      return version;
    };
    const inputs = await Promise.all(
      (await store.listStepInputs(record.id)).map(async (l) => ({ name: l.inputName, artifact: await artifact(l.artifactVersionId) })),
    );
    const outputs = await Promise.all(
      (await store.listStepOutputs(record.id)).map(async (l) => ({
        name: l.outputName,
        mappingKey: l.mappingKey,
        artifact: await artifact(l.artifactVersionId),
      })),
    );
    const ownConfig = await store.listStepConfigurations({ stepRunId: record.id });
    let configuration: unknown = ownConfig[0]?.config;
    if (configuration === undefined) {
      const fromSnapshot = await store.listStepConfigurations({ snapshotId: (await store.getRun(run.id))!.snapshotId });
      const template = record.invocationId.replace(/\[[^\]]*\]$/, "[*]");
      configuration = fromSnapshot.find((c) => c.invocationId === record.invocationId || c.invocationId === template)?.config;
    }
    const view = stepView(record);
    return {
      ...view,
      runId: run.id,
      configuration,
      inputs,
      outputs,
      durationMs: record.startedAt !== null && record.endedAt !== null ? record.endedAt - record.startedAt : null,
      logs: await store.listLogs(run.id, { stepRunId: record.id }),
    };
  }

  async listArtifactVersions(filter: { artifactName?: string; limit?: number } = {}): Promise<ArtifactVersionRecord[]> {
    if (this.remote) return this.remote.listArtifactVersions(filter);
    return (await this.store()).listArtifactVersions(filter);
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionRecord> {
    if (this.remote) return this.remote.getArtifactVersion(id);
    const version = await (await this.store()).getArtifactVersion(id);
    if (!version) throw new RunNotFoundError(`no artifact version with id "${id}"`);
    return version;
  }

  /**
   * An artifact by name (`pipeline::invocation::output`, as `listArtifactVersions()` and
   * `weir artifacts list` show it): its newest version, or the given version number.
   */
  async getArtifact(name: string, version?: number): Promise<ArtifactDetails> {
    const versions = await this.listArtifactVersions({ artifactName: name });
    if (versions.length === 0) throw new RunNotFoundError(`no artifact named "${name}" (see weir artifacts list)`);
    const found = version === undefined ? versions[0] : versions.find((v) => v.version === version);
    if (!found) throw new RunNotFoundError(`artifact "${name}" has no version ${version} (it has 1 to ${versions[0].version})`);
    return { ...found, ...(await this.getArtifactLineage(found.id)), load: () => this.loadArtifact(found.id) };
  }

  /** Which step run produced an artifact version, which reused it from the cache, and which consumed it. */
  async getArtifactLineage(versionId: string): Promise<ArtifactLineage> {
    if (this.remote) return this.remote.getArtifactLineage(versionId);
    const store = await this.store();
    const { outputs, inputs } = await store.listArtifactVersionLinks(versionId);
    const stepRuns = new Map<string, StepRunRecord | undefined>();
    const stepRun = async (id: string) => {
      if (!stepRuns.has(id)) stepRuns.set(id, await store.getStepRun(id));
      return stepRuns.get(id)!;
    };
    const produced = [];
    for (const link of outputs) {
      const record = await stepRun(link.stepRunId);
      const entry = {
        runId: record.runId,
        stepRunId: record.id,
        invocationId: record.invocationId,
        outputName: link.outputName,
        mappingKey: link.mappingKey,
      };
      produced.push({ entry, cached: record.status === "cached" });
    }
    const consumedBy = [];
    for (const link of inputs) {
      const record = await stepRun(link.stepRunId);
      consumedBy.push({ runId: record.runId, stepRunId: record.id, invocationId: record.invocationId, inputName: link.inputName });
    }
    return {
      producedBy: produced.find((p) => !p.cached)?.entry ?? null,
      reusedBy: produced.filter((p) => p.cached).map((p) => p.entry),
      consumedBy,
    };
  }

  /** The stored value of an artifact version. */
  async loadArtifact(id: string): Promise<unknown> {
    if (this.remote) return this.remote.loadArtifact(id);
    const version = await this.getArtifactVersion(id);
    // The store that holds it, rebuilt from its record: works for any flavor and from any process.
    const artifacts = await resolveArtifactStore(await this.store(), version);
    return loadStoredArtifact(version, { artifacts, materializers: defaultMaterializers() });
  }

  /** Log lines of a run, or of one of its step runs. */
  async getLogs(runId: string, stepName?: string, afterId?: number): Promise<LogLine[]> {
    if (this.remote) return this.remote.getLogs(runId, stepName, afterId);
    const store = await this.store();
    const run = await this.getRun(runId);
    let stepRunId: string | undefined;
    if (stepName) {
      const record = await store.findStepRun(run.id, stepName);
      if (!record) throw new RunNotFoundError(`run ${run.id} has no step run "${stepName}"`);
      stepRunId = record.id;
    }
    return store.listLogs(run.id, { stepRunId, afterId });
  }

  /** A run by exact name, else by a unique start or end of its id; several matches are an error listing them. */
  private async findRunByName(store: MetadataStore, reference: string) {
    const runs = await store.listRuns({ limit: 100_000 });
    const byName = runs.filter((r) => r.name === reference);
    // Ids are time-ordered: a start, or the random end that lists show, identifies a run.
    const matches = byName.length > 0 ? byName : runs.filter((r) => r.id.startsWith(reference) || r.id.endsWith(reference));
    if (matches.length > 1) {
      throw new RunNotFoundError(`"${reference}" matches ${matches.length} runs (${matches.slice(0, 5).map((r) => r.id).join(", ")}…); use a full run id`);
    }
    return matches[0];
  }
}
