import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeMetadataStores } from "../../src/config/home.js";
import { resolveToken, tokensMatch } from "../../src/server/auth.js";
import { routes } from "../../src/server/routes.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import type { ApiPreview, ApiRunDetail, ApiStepDetail } from "../../src/server/types.js";
import { store, useTempHome } from "../helpers.js";
import { failingPipeline, gradientPng, growingPipeline, showcasePipeline } from "./fixtures/pipelines.js";

const home = useTempHome("weir-server-");
const TOKEN = "test-token-0123456789";
let server: RunningServer;
let showcaseId: string;
let failedId: string;

const get = (path: string, token: string | null = TOKEN, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { ...init, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...init.headers } });
const json = async <T = any>(path: string): Promise<T> => {
  const response = await get(path);
  expect(response.status, `${path}: ${response.status}`).toBe(200);
  return (await response.json()) as T;
};

beforeAll(async () => {
  const dashboard = mkdtempSync(join(tmpdir(), "weir-dashboard-"));
  writeFileSync(join(dashboard, "index.html"), "<!doctype html><title>weir</title>");
  server = await startServer({ home, port: 0, token: TOKEN, pollMs: 50, dashboardDir: dashboard });
  showcaseId = (await showcasePipeline.run({ count: 12 }, { runName: "showcase-1" })).id;
  failedId = (await failingPipeline.run({})).id;
});
afterAll(async () => {
  await server?.close();
  await closeMetadataStores();
});

describe("weir server: security", () => {
  it("binds 127.0.0.1 by default", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("answers /api/health without a token", async () => {
    expect((await get("/api/health", null)).status).toBe(200);
  });

  it("refuses every other route without the right bearer token (401)", async () => {
    const values: Record<string, string> = { id: showcaseId, name: "load_records" };
    const paths = routes.filter((r) => !r.public).map((r) => r.path.replace(/:(\w+)/g, (_, p: string) => encodeURIComponent(values[p])));
    paths.push("/api/openapi.json", "/api/no-such-route", "/api/diff?a=x&b=y");
    expect(paths.length).toBeGreaterThan(10);
    for (const path of paths) {
      for (const auth of [null, "Bearer wrong-token", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, "Bearer "]) {
        const response = await fetch(`${server.url}${path}`, { headers: auth ? { Authorization: auth } : {} });
        expect(response.status, `${path} with ${auth}`).toBe(401);
        expect(response.headers.get("www-authenticate")).toContain("Bearer");
      }
      // …and the right token opens it (so the 401s above are not a blanket refusal).
      expect([200, 400, 404], path).toContain((await get(path)).status);
    }
  });

  it("compares tokens without short-circuiting on length", () => {
    expect(tokensMatch("abc", "abc")).toBe(true);
    expect(tokensMatch("abc", "abcd")).toBe(false);
    expect(tokensMatch("", "abc")).toBe(false);
  });

  it("generates a token once, keeps it in the home, and lets WEIR_SERVER_TOKEN win", () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-token-"));
    const first = resolveToken(dir, {});
    expect(first.source).toBe("generated");
    expect(first.token.length).toBeGreaterThanOrEqual(32);
    expect(resolveToken(dir, {})).toEqual({ token: first.token, source: "file" });
    expect(resolveToken(dir, { WEIR_SERVER_TOKEN: "from-env" })).toEqual({ token: "from-env", source: "env" });
  });

  it("sends no CORS headers, even to a foreign origin", async () => {
    const response = await get("/api/runs", TOKEN, { headers: { Origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${server.url}/api/runs`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("serves the dashboard's files and nothing outside its folder", async () => {
    const index = await get("/", null);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    for (const path of ["/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/runs/anything"]) {
      const response = await fetch(`${server.url}${path}`);
      // Unknown paths are the single-page app's index, never a file from elsewhere.
      expect(await response.text(), path).toBe("<!doctype html><title>weir</title>");
    }
  });

  it("refuses request bodies over the size limit (413)", async () => {
    const response = await fetch(`${server.url}/api/runs`, { method: "POST", body: "x".repeat(200_000), headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(413);
  });

  it("never reads an artifact outside the artifact stores", async () => {
    const s = await store();
    const outside = await s.createArtifactVersion({
      artifactName: "evil::step::output",
      uri: "/etc/passwd",
      dataType: "string",
      materializer: "weir.string",
      contentHash: "x",
      size: 10,
    });
    const traversal = await s.createArtifactVersion({
      artifactName: "evil::step::output",
      uri: join(home, "artifacts", "..", "weir.db"),
      dataType: "Buffer",
      materializer: "weir.bytes",
      contentHash: "x",
      size: 10,
    });
    for (const path of [`/api/artifacts/${outside.id}/preview`, `/api/artifacts/${traversal.id}/content`, `/api/artifacts/${traversal.id}/preview`]) {
      const response = await get(path);
      expect(response.status, path).toBe(403);
      expect(await response.text()).not.toContain("root:");
    }
    // The URI itself is never sent to clients.
    expect(JSON.stringify(await json(`/api/artifacts/${outside.id}`))).not.toContain("/etc/passwd");
  });
});

describe("weir server: API", () => {
  it("lists runs with step counts, filters, search and pagination", async () => {
    const all = await json("/api/runs");
    expect(all.total).toBe(2);
    expect(all.pipelines).toEqual(["failing_pipeline", "showcase_pipeline"]);
    const showcase = all.items.find((r: any) => r.id === showcaseId);
    expect(showcase).toMatchObject({ status: "completed", stepTotal: 9, stepCounts: { completed: 9 } });
    expect(showcase.durationMs).toBeGreaterThanOrEqual(0);
    expect((await json("/api/runs?status=failed")).items.map((r: any) => r.id)).toEqual([failedId]);
    expect((await json("/api/runs?pipeline=showcase_pipeline")).items.map((r: any) => r.id)).toEqual([showcaseId]);
    expect((await json("/api/runs?name=showcase-1")).items.map((r: any) => r.id)).toEqual([showcaseId]);
    expect((await json("/api/runs?q=SHOWCASE")).items.map((r: any) => r.id)).toEqual([showcaseId]);
    const page = await json("/api/runs?limit=1&offset=1");
    expect(page).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(page.items).toHaveLength(1);
  });

  it("rejects invalid input with a message naming the field (400)", async () => {
    for (const [path, field] of [
      ["/api/runs?status=sleeping", "status"],
      ["/api/runs?limit=abc", "limit"],
      ["/api/runs?limit=100000", "limit"],
      ["/api/diff?a=x", "b"],
    ]) {
      const response = await get(path);
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { error: string }).error).toContain(`"${field}"`);
    }
    expect((await get("/api/runs/no-such-run")).status).toBe(404);
  });

  it("gives a run with its step runs, by id or name, and its snapshot", async () => {
    const detail = await json<ApiRunDetail>("/api/runs/showcase-1");
    expect(detail.run.id).toBe(showcaseId);
    expect(await json(`/api/snapshots/${detail.run.snapshotId}`)).toMatchObject({ pipelineName: "showcase_pipeline", parameters: { count: 12 } });
    expect((await get("/api/snapshots/no-such-snapshot")).status).toBe(404);
    expect(detail.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(["load_records", "render_chart", "split_shards", "score_shard[shard_0]", "score_shard[shard_3]", "report"]),
    );
    expect(detail.steps.find((s) => s.name === "score_shard[shard_2]")).toMatchObject({ mappingKey: "shard_2", status: "completed" });
  });

  it("gives a step run with configuration, resources, lineage and logs", async () => {
    const load = await json<ApiStepDetail>(`/api/runs/${showcaseId}/steps/load_records`);
    expect(load.resources).toMatchObject({ cpuCount: 2 });
    expect(load.outputs).toHaveLength(1);
    const chart = await json<ApiStepDetail>(`/api/runs/${showcaseId}/steps/render_chart`);
    expect(chart.inputs[0].artifact.id).toBe(load.outputs[0].artifact.id);
    expect(chart.inputs[0].artifact.producer).toEqual({ invocationId: "load_records", outputName: "output" });
    const logs = await json(`/api/runs/${showcaseId}/logs?step=load_records`);
    expect(logs.lines.map((l: any) => l.message)).toContain("loading 12 records");
    const after = await json(`/api/runs/${showcaseId}/logs?after=${logs.lines.at(-1).id}&step=load_records`);
    expect(after.lines).toEqual([]);
    const failed = await json<ApiStepDetail>(`/api/runs/${failedId}/steps/always_fails`);
    expect(failed.status).toBe("failed");
    expect(failed.attempts.map((a) => a.error)).toEqual(["the warehouse said no", "the warehouse said no"]);
  });

  it("previews artifacts as a table, an image, text and JSON", async () => {
    const outputOf = async (name: string) => (await json<ApiStepDetail>(`/api/runs/${showcaseId}/steps/${encodeURIComponent(name)}`)).outputs[0].artifact.id;
    const preview = (name: string) => outputOf(name).then((id) => json<ApiPreview>(`/api/artifacts/${id}/preview`));
    const table = await preview("load_records");
    expect(table).toMatchObject({ kind: "table", columns: ["id", "city", "score"], total: 12 });
    const image = await preview("render_chart");
    expect(image.kind).toBe("image");
    if (image.kind !== "image") return;
    const bytes = await get(image.contentUrl);
    expect(bytes.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await bytes.arrayBuffer()).equals(gradientPng())).toBe(true);
    expect(await preview("describe_records")).toEqual({ kind: "text", text: "12 records from 3 cities.\nAll good.", truncated: false });
    expect(await preview("score_shard[shard_1]")).toEqual({ kind: "json", value: { shard: 1, score: 30, nested: { ok: true, tags: ["a", "b"] } } });
  });

  it("diffs two runs' graphs", async () => {
    const other = (await showcasePipeline.run({ count: 12 }, { enableCache: false })).id;
    const same = await json(`/api/diff?a=${showcaseId}&b=${other}`);
    expect(same).toMatchObject({ onlyA: [], onlyB: [], changed: [], common: 9 });
    const diff = await json(`/api/diff?a=${showcaseId}&b=${failedId}`);
    expect(diff.onlyA).toContain("report");
    expect(diff.onlyB).toEqual(["always_fails"]);
  });

  it("lists stacks, says which store it reads and serves an OpenAPI document of every route", async () => {
    expect((await json("/api/stacks")).items.map((s: any) => s.name)).toContain("default");
    expect(await json("/api/status")).toMatchObject({ home, activeStack: "default", runs: expect.any(Number) });
    const doc = await json("/api/openapi.json");
    expect(doc.openapi).toBe("3.1.0");
    for (const route of routes) expect(Object.keys(doc.paths)).toContain(route.path.replace(/:(\w+)/g, "{$1}"));
    expect(doc.paths["/api/runs"].get.parameters.map((p: any) => p.name)).toEqual(["pipeline", "status", "name", "schedule", "q", "limit", "offset"]);
  });

  it("streams a running dynamic run's changes (SSE) until it ends", async () => {
    const running = growingPipeline.run({ delayMs: 150 });
    let runId: string | undefined;
    for (let i = 0; i < 100 && !runId; i++) {
      runId = (await json("/api/runs?pipeline=growing_pipeline")).items[0]?.id;
      if (!runId) await new Promise((r) => setTimeout(r, 20));
    }
    const response = await get(`/api/runs/${runId}/events`);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const text = await response.text(); // the stream ends with the run
    await running;
    const changes = [...text.matchAll(/event: change\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]));
    const totals = changes.map((c) => c.run.stepTotal);
    expect(changes.length).toBeGreaterThan(3);
    // The graph grew while it was watched, to 8 step runs.
    expect(Math.min(...totals)).toBeLessThan(8);
    expect(totals.at(-1)).toBe(8);
    expect(changes.at(-1).run.status).toBe("completed");
    const seen = new Set(changes.flatMap((c) => c.steps.map((s: any) => `${s.name}:${s.status}`)));
    expect(seen).toContain("merge_results:running");
    expect(seen).toContain("publish:completed");
    expect(text).toMatch(/event: end\ndata: \{"status":"completed"\}/);
  });
});

describe("weir server: schedules", () => {
  it("lists schedules with their next fire time and recent runs", async () => {
    const created = await showcasePipeline.schedule({ name: "nightly-showcase", cron: "0 2 * * *", timezone: "Asia/Tokyo", parameters: { count: 3 } });
    const run = await showcasePipeline.run({ count: 3 }, { schedule: { name: "nightly-showcase", plannedFor: created.nextFireAt! - 86_400_000 } });
    const { items } = await json<{ items: { name: string; nextFireAt: number; timezone: string; recentRuns: { id: string; scheduleName: string }[] }[] }>("/api/schedules");
    const listed = items.find((s) => s.name === "nightly-showcase")!;
    expect(listed).toMatchObject({ nextFireAt: created.nextFireAt, timezone: "Asia/Tokyo" });
    expect(listed.recentRuns.map((r) => [r.id, r.scheduleName])).toEqual([[run.id, "nightly-showcase"]]);
    const page = await json<{ items: { id: string }[] }>("/api/runs?schedule=nightly-showcase");
    expect(page.items.map((r) => r.id)).toEqual([run.id]);
  });
});
