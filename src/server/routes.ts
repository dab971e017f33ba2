import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod/v4";
import { RunNotFoundError } from "../authoring/errors.js";
import type { Client } from "../client/client.js";
import { storeUrl } from "../config/home.js";
import { redact } from "../stores/metadata/open.js";
import type { MetadataStore, RunRecord, SnapshotRecord } from "../stores/metadata/types.js";
import { artifactStores, imageMime, previewArtifact, readArtifactBytes, toApiArtifact } from "./artifacts.js";
import { newCursor, readStepRunChanges } from "./changes.js";
import type { ApiPage, ApiRun, ApiRunDetail, ApiSchedule, ApiStack, ApiStatus, ApiStepDetail } from "./types.js";
import { countSteps, diffRuns, listRunRecords, runSummaries, toApiRun, toApiStepRun } from "./views.js";

export interface ApiContext {
  client: Client;
  store: MetadataStore;
  home: string;
  /** How often the SSE stream reads the store's change cursor. */
  pollMs: number;
}

/** One API route: the table drives the router, input validation and the OpenAPI document alike. */
export interface Route {
  path: string;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Whether the route works without a token (only the health check). */
  public?: boolean;
  /** The response is not JSON (SSE, artifact bytes). */
  produces?: string;
  handle(c: Context, input: { params: any; query: any }, api: ApiContext): Promise<Response> | Response;
}

const id = z.string().min(1).max(200);
const runId = z.object({ id });
const RUN_STATUSES = ["initializing", "running", "completed", "failed"] as const;

async function resolveRun(api: ApiContext, ref: string): Promise<RunRecord> {
  const direct = await api.store.getRun(ref);
  if (direct) return direct;
  // Names and id prefixes, resolved as the CLI does (throws RunNotFoundError).
  const found = await api.store.getRun((await api.client.getRun(ref)).id);
  if (!found) throw new RunNotFoundError(`no run with id or name "${ref}"`);
  return found;
}

async function runDetail(api: ApiContext, ref: string): Promise<ApiRunDetail> {
  const run = await resolveRun(api, ref);
  const steps = (await api.store.listStepRuns(run.id)).map(toApiStepRun);
  const parameters = (await api.store.getSnapshot(run.snapshotId))?.parameters ?? {};
  return { run: toApiRun(run, countSteps(steps)), steps, output: run.output ?? null, parameters };
}

const FINAL = new Set(["completed", "failed"]);
/** A quiet SSE stream sends a comment this often (well inside the server's 120 s socket timeout). */
const HEARTBEAT_MS = 15_000;

export const routes: Route[] = [
  {
    path: "/api/health",
    summary: "Liveness check (no token needed)",
    public: true,
    handle: (c) => c.json({ ok: true }),
  },
  {
    path: "/api/status",
    summary: "Which weir home and metadata store this server reads, its active stack and how many runs it holds",
    async handle(c, _input, api) {
      const activeStack = (await api.store.getActiveStackName()) ?? "default";
      const components = (await api.store.getStack(activeStack))?.components ?? [];
      const status: ApiStatus = {
        home: api.home,
        metadataStore: redact(storeUrl(api.home)),
        activeStack,
        components: components.map(({ type, name, flavor, config }) => ({ type, name, flavor, config })),
        runs: (await api.store.listRuns()).length,
      };
      return c.json(status);
    },
  },
  {
    path: "/api/runs",
    summary: "Runs, newest first: filter by pipeline, status, name or a search text; paginated",
    query: z.object({
      pipeline: z.string().max(200).optional(),
      status: z.enum(RUN_STATUSES).optional(),
      name: z.string().max(200).optional(),
      schedule: z.string().max(200).optional(),
      q: z.string().max(200).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      offset: z.coerce.number().int().min(0).default(0),
    }),
    async handle(c, { query }, api) {
      const { runs, counts } = await listRunRecords(api.store, query);
      const q = query.q?.toLowerCase();
      const matching = runs.filter(
        (r) =>
          (query.name === undefined || r.name === query.name) &&
          (query.schedule === undefined || r.scheduleName === query.schedule) &&
          (q === undefined || r.id.startsWith(q) || r.name.toLowerCase().includes(q) || r.pipelineName.toLowerCase().includes(q)),
      );
      const page = matching.slice(query.offset, query.offset + query.limit);
      const items = counts ? page.map((r) => toApiRun(r, counts.get(r.id) ?? {})) : await runSummaries(api.store, page);
      const pipelines = [...new Set(runs.map((r) => r.pipelineName))].sort();
      return c.json({ items, total: matching.length, offset: query.offset, limit: query.limit, pipelines } satisfies ApiPage<ApiRun> & {
        pipelines: string[];
      });
    },
  },
  {
    path: "/api/runs/:id",
    summary: "A run (by id, unique id prefix or name) with all its step runs",
    params: runId,
    handle: async (c, { params }, api) => c.json(await runDetail(api, params.id)),
  },
  {
    path: "/api/snapshots/:id",
    summary: "A pipeline snapshot (a run's `snapshotId`): the pipeline as submitted, its parameters and, for static pipelines, the compiled graph",
    params: runId,
    async handle(c, { params }, api) {
      const snapshot = await api.store.getSnapshot(params.id);
      if (!snapshot) throw new RunNotFoundError(`no snapshot with id "${params.id}"`);
      return c.json(snapshot satisfies SnapshotRecord);
    },
  },
  {
    path: "/api/runs/:id/events",
    summary: "Server-Sent Events: a `change` event with the run and every step run that changed, until the run ends",
    params: runId,
    produces: "text/event-stream",
    async handle(c, { params }, api) {
      const run = await resolveRun(api, params.id);
      return streamSSE(c, async (stream) => {
        const cursor = newCursor();
        let closed = false;
        stream.onAbort(() => {
          closed = true;
        });
        let lastRun = "";
        let lastWrite = Date.now();
        for (let n = 0; !closed; n++) {
          const current = (await api.store.getRun(run.id))!;
          const changed = await readStepRunChanges(api.store, run.id, cursor);
          const runKey = `${current.status}|${current.endedAt}|${current.error}`;
          if (changed.length > 0 || runKey !== lastRun || n === 0) {
            lastRun = runKey;
            const counts = countSteps(await api.store.listStepRuns(run.id));
            await stream.writeSSE({ event: "change", data: JSON.stringify({ run: toApiRun(current, counts), steps: changed.map(toApiStepRun) }) });
            lastWrite = Date.now();
          } else if (Date.now() - lastWrite > HEARTBEAT_MS) {
            // A comment line keeps proxies and the socket timeout from closing a quiet stream.
            await stream.write(": still running\n\n");
            lastWrite = Date.now();
          }
          if (FINAL.has(current.status)) {
            await stream.writeSSE({ event: "end", data: JSON.stringify({ status: current.status }) });
            return;
          }
          await stream.sleep(api.pollMs);
        }
      });
    },
  },
  {
    path: "/api/runs/:id/steps/:name",
    summary: "One step run: configuration, resources, attempts, inputs and outputs (lineage), metadata",
    params: z.object({ id, name: z.string().min(1).max(1000) }),
    async handle(c, { params }, api) {
      const run = await resolveRun(api, params.id);
      const record = await api.store.findStepRun(run.id, params.name);
      if (!record) throw new RunNotFoundError(`run ${run.id} has no step run "${params.name}"`);
      const details = await api.client.getStepRun(run.id, params.name);
      const config = details.configuration as { settings?: { resources?: Record<string, unknown> } } | undefined;
      const attempts = Array.isArray(record.metadata.attempts) ? (record.metadata.attempts as { attempt: number; error: string }[]) : [];
      const body: ApiStepDetail = {
        ...toApiStepRun(record),
        runId: run.id,
        configuration: details.configuration ?? null,
        resources: config?.settings?.resources ?? null,
        attempts,
        durationMs: details.durationMs,
        inputs: details.inputs.map((i) => ({ name: i.name, artifact: toApiArtifact(i.artifact) })),
        outputs: details.outputs.map((o) => ({ name: o.name, mappingKey: o.mappingKey, artifact: toApiArtifact(o.artifact) })),
      };
      return c.json(body);
    },
  },
  {
    path: "/api/runs/:id/logs",
    summary: "Log lines of a run or one step run, oldest first, after a log line id (for following)",
    params: runId,
    query: z.object({
      step: z.string().min(1).max(1000).optional(),
      after: z.coerce.number().int().min(0).optional(),
      limit: z.coerce.number().int().min(1).max(10_000).default(2_000),
    }),
    async handle(c, { params, query }, api) {
      const run = await resolveRun(api, params.id);
      const lines = await api.client.getLogs(run.id, query.step, query.after);
      return c.json({ lines: lines.slice(0, query.limit), more: lines.length > query.limit, runStatus: run.status });
    },
  },
  {
    path: "/api/diff",
    summary: "Where two runs' executed graphs diverge",
    query: z.object({ a: id, b: id }),
    async handle(c, { query }, api) {
      const [a, b] = await Promise.all([runDetail(api, query.a), runDetail(api, query.b)]);
      return c.json(diffRuns(a.run, a.steps, b.run, b.steps));
    },
  },
  {
    path: "/api/artifacts",
    summary: "Artifact versions, newest first",
    query: z.object({ name: z.string().max(1000).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    async handle(c, { query }, api) {
      const versions = await api.client.listArtifactVersions({ artifactName: query.name, limit: query.limit });
      return c.json({ items: versions.map(toApiArtifact) });
    },
  },
  {
    path: "/api/artifacts/:id",
    summary: "One artifact version's metadata",
    params: runId,
    handle: async (c, { params }, api) => c.json(toApiArtifact(await api.client.getArtifactVersion(params.id))),
  },
  {
    path: "/api/artifacts/:id/lineage",
    summary: "Which step run produced an artifact version, which reused it from the cache, and which consumed it",
    params: runId,
    handle: async (c, { params }, api) => c.json(await api.client.getArtifactLineage((await api.client.getArtifactVersion(params.id)).id)),
  },
  {
    path: "/api/artifacts/:id/preview",
    summary: "A preview of an artifact version's value: JSON, a table for arrays of records, text, or an image",
    params: runId,
    async handle(c, { params }, api) {
      const version = await api.client.getArtifactVersion(params.id);
      return c.json(await previewArtifact(version, await artifactStores(api.store, api.home), api.store));
    },
  },
  {
    path: "/api/artifacts/:id/content",
    summary: "The stored bytes of an artifact version (PNG/JPEG as images; anything else as a download naming its materializer)",
    params: runId,
    produces: "application/octet-stream",
    async handle(c, { params }, api) {
      const version = await api.client.getArtifactVersion(params.id);
      const bytes = await readArtifactBytes(version, await artifactStores(api.store, api.home), api.store);
      const mime = version.materializer === "weir.bytes" ? imageMime(bytes) : undefined;
      c.header("Content-Type", mime ?? "application/octet-stream");
      if (!mime) c.header("Content-Disposition", `attachment; filename="${version.id}.bin"`);
      // A remote Client loads the value with its own materializers, as a local one would.
      c.header("X-Weir-Materializer", version.materializer);
      c.header("X-Weir-Data-Type", encodeURIComponent(version.dataType));
      return c.body(new Uint8Array(bytes));
    },
  },
  {
    path: "/api/schedules",
    summary: "Schedules with their next fire times and their most recent runs",
    async handle(c, _input, api) {
      const schedules = await api.store.listSchedules();
      const items: ApiSchedule[] = await Promise.all(
        schedules.map(async (s) => {
          const runs = await api.store.listRuns({ scheduleName: s.name, limit: 10 });
          return { ...s, recentRuns: await runSummaries(api.store, runs) };
        }),
      );
      return c.json({ items });
    },
  },
  {
    path: "/api/stacks",
    summary: "Registered stacks and their components",
    async handle(c, _input, api) {
      const active = await api.store.getActiveStackName();
      const stacks: ApiStack[] = (await api.store.listStacks()).map((s) => ({
        name: s.name,
        active: s.name === active,
        createdAt: s.createdAt,
        components: s.components.map(({ type, name, flavor, config }) => ({ type, name, flavor, config })),
      }));
      return c.json({ items: stacks });
    },
  },
];
