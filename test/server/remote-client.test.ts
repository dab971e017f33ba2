import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunNotFoundError } from "../../src/authoring/errors.js";
import { Client } from "../../src/client/client.js";
import { closeMetadataStores } from "../../src/config/home.js";
import { RemoteClient, ServerRequestError } from "../../src/client/remote-client.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import { tempHome, weirWith } from "../cli/weir.js";
import { useTempHome } from "../helpers.js";
import { failingPipeline, gradientPng, showcasePipeline } from "./fixtures/pipelines.js";

const home = useTempHome("weir-remote-");
let server: RunningServer;
let remote: RemoteClient;
const local = new Client({ home });

beforeAll(async () => {
  server = await startServer({ home, port: 0, token: "remote-token" });
  remote = new RemoteClient({ url: server.url, token: "remote-token" });
  await showcasePipeline.run({ count: 6 }, { runName: "remote-showcase" });
  await failingPipeline.run({});
});
afterAll(async () => {
  await server?.close();
  await closeMetadataStores();
});

describe("RemoteClient (the Client through weir server)", () => {
  it("reads the same runs and step runs as a local Client, output included", async () => {
    const [mine, theirs] = await Promise.all([local.getRun("remote-showcase"), remote.getRun("remote-showcase")]);
    const { output: _a, ...a } = mine;
    const { output: _b, ...b } = theirs;
    expect(b).toEqual(a);
    expect(await theirs.output()).toEqual(await mine.output());
    expect((await remote.listRuns({ status: "failed" })).map((r) => r.pipelineName)).toEqual(["failing_pipeline"]);
    const step = await remote.getStepRun(mine.id, "load_records");
    const expected = await local.getStepRun(mine.id, "load_records");
    expect(step.logs.map((l) => l.message)).toEqual(expected.logs.map((l) => l.message));
    expect(step.configuration).toEqual(expected.configuration);
    expect(step.outputs[0].artifact.contentHash).toBe(expected.outputs[0].artifact.contentHash);
  });

  it("lists run summaries as a local Client does, from the server's run list (no step runs fetched)", async () => {
    const [mine, theirs] = await Promise.all([local.listRunSummaries(), remote.listRunSummaries()]);
    const strip = (runs: typeof mine) => runs.map(({ output: _output, ...run }) => run);
    expect(strip(theirs)).toEqual(strip(mine));
    expect(theirs.find((r) => r.name === "remote-showcase")!.stepCount).toBeGreaterThan(0);
    const showcase = (runs: typeof mine) => runs.find((r) => r.name === "remote-showcase")!;
    expect(await showcase(theirs).output()).toEqual(await showcase(mine).output());
  });

  it("loads artifact values with their materializers (bytes stay bytes)", async () => {
    const run = await local.getRun("remote-showcase");
    const chart = await local.getStepRun(run.id, "render_chart");
    const value = await remote.loadArtifact(chart.outputs[0].artifact.id);
    expect(Buffer.isBuffer(value)).toBe(true);
    expect((value as Buffer).equals(gradientPng())).toBe(true);
    expect(await remote.getArtifactVersion(chart.outputs[0].artifact.id)).toMatchObject({ materializer: "weir.bytes", uri: expect.stringMatching(/^weir-server:/) });
  });

  it("gives a run's snapshot in the shape a local Client does", async () => {
    const run = await local.getRun("remote-showcase");
    const client = new Client({ url: server.url, token: "remote-token" });
    expect((await client.getRun(run.id)).snapshotId).toBe(run.snapshotId);
    const snapshot = await client.getSnapshot(run.snapshotId);
    expect(snapshot).toEqual(await local.getSnapshot(run.snapshotId));
    expect(snapshot).toMatchObject({ pipelineName: "showcase_pipeline", isDynamic: false, parameters: { count: 6 } });
    expect(await client.getSnapshot("no-such-snapshot")).toBeUndefined();
  });

  it("names what went wrong: an unknown run, a refused token", async () => {
    await expect(remote.getRun("no-such-run")).rejects.toBeInstanceOf(RunNotFoundError);
    const wrong = new RemoteClient({ url: server.url, token: "nope" });
    await expect(wrong.listRuns()).rejects.toThrow(ServerRequestError);
    await expect(wrong.listRuns()).rejects.toThrow(/answered 401/);
  });
});

describe("new Client({ url, token }) and the CLI with WEIR_SERVER_URL", () => {
  it("reads through the server when given a URL, and asks for the token", async () => {
    const client = new Client({ url: server.url, token: "remote-token" });
    expect(client.isRemote).toBe(true);
    const run = await client.getRun("remote-showcase");
    expect(run).toMatchObject({ name: "remote-showcase", status: "completed" });
    expect(await run.output()).toEqual(await (await local.getRun("remote-showcase")).output());
    await expect(client.store()).rejects.toThrow(/reads through a server/);
    // Lineage and named artifacts too: the same answers as a Client on the store.
    const produced = (await local.getStepRun(run.id, "load_records")).outputs[0].artifact;
    expect(await client.getArtifactLineage(produced.id)).toEqual(await local.getArtifactLineage(produced.id));
    const named = await client.getArtifact(produced.artifactName);
    expect(named.id).toBe((await local.getArtifact(produced.artifactName)).id);
    const saved = process.env.WEIR_SERVER_TOKEN;
    delete process.env.WEIR_SERVER_TOKEN;
    try {
      expect(() => new Client({ url: server.url })).toThrow(/needs its token: pass \{ token \} or set WEIR_SERVER_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.WEIR_SERVER_TOKEN = saved;
    }
  });

  it("weir runs list, runs show and logs read through WEIR_SERVER_URL from a folder with no store", async () => {
    const elsewhere = tempHome(); // an empty home: anything read must come from the server
    const env = { WEIR_HOME: elsewhere, WEIR_SERVER_URL: server.url, WEIR_SERVER_TOKEN: "remote-token", WEIR_STORE_URL: undefined };
    const [list, show, logs] = await Promise.all([
      weirWith({ env }, "runs", "list"),
      weirWith({ env }, "runs", "show", "remote-showcase"),
      weirWith({ env }, "logs", "remote-showcase", "load_records"),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("remote-showcase");
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/status:\s+completed/);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.trim().length).toBeGreaterThan(0);
    const refused = await weirWith({ env: { ...env, WEIR_SERVER_TOKEN: "wrong" } }, "runs", "list");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*401/);
  });
});
