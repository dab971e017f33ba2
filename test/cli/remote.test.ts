// `weir stack`, `weir schedule` and `weir status` with WEIR_SERVER_URL: the reads come from
// the server's store, the writes refuse; run from an empty folder that has no store of its own.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeMetadataStores, openMetadataStore, storeUrl } from "../../src/config/home.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import { registerStack } from "../../src/stack/stack.js";
import { redact } from "../../src/stores/metadata/open.js";
import { useTempHome } from "../helpers.js";
import { showcasePipeline } from "../server/fixtures/pipelines.js";
import { expectUserError, tempHome, weirWith } from "./weir.js";

tempHome(); // checks that the CLI is built
const home = useTempHome("weir-remote-cli-");
const TOKEN = "remote-cli-token";
const elsewhere = mkdtempSync(join(tmpdir(), "weir-remote-cwd-"));
const artifacts = join(home, "gpu-artifacts");
let server: RunningServer;
let env: Record<string, string | undefined>;

const remoteWeir = (...args: string[]) => weirWith({ cwd: elsewhere, env }, ...args);

beforeAll(async () => {
  const store = await openMetadataStore(home);
  await registerStack(store, "gpu-box", [
    { type: "orchestrator", name: "gpu-box", flavor: "local", config: { maxParallel: 3 } },
    { type: "artifact_store", name: "gpu-box", flavor: "local", config: { path: artifacts } },
  ]);
  await store.setActiveStack("gpu-box");
  await showcasePipeline.schedule({ name: "nightly-remote", cron: "0 2 * * *", timezone: "Asia/Tokyo", parameters: { count: 3 } });
  server = await startServer({ home, port: 0, token: TOKEN });
  env = { WEIR_HOME: undefined, WEIR_STORE_URL: undefined, WEIR_SERVER_URL: server.url, WEIR_SERVER_TOKEN: TOKEN };
});
afterAll(async () => {
  await server?.close();
  await closeMetadataStores();
});

describe("stack, schedule and status commands through WEIR_SERVER_URL", () => {
  it("list and describe the server's stacks and schedules", async () => {
    const [list, described, listJson, schedules, schedulesJson] = await Promise.all([
      remoteWeir("stack", "list"),
      remoteWeir("stack", "describe"),
      remoteWeir("stack", "list", "--json"),
      remoteWeir("schedule", "list"),
      remoteWeir("schedule", "list", "--json"),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/│ \*\s+│ gpu-box\s+│ gpu-box \(local\)/);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/stack:\s+gpu-box/);
    expect(described.stdout).toMatch(/active:\s+yes/);
    expect(described.stdout).toContain('{"maxParallel":3}');
    expect(described.stdout).toContain(`{"path":"${artifacts}"}`);
    expect((JSON.parse(listJson.stdout) as { name: string; active: boolean }[]).find((s) => s.active)?.name).toBe("gpu-box");
    expect(schedules.code, schedules.stderr).toBe(0);
    expect(schedules.stdout).toMatch(/│ nightly-remote\s+│ showcase_pipeline\s+│ 0 2 \* \* \*\s+│ Asia\/Tokyo\s+│ active/);
    expect(JSON.parse(schedulesJson.stdout)).toEqual([expect.objectContaining({ name: "nightly-remote", paused: false })]);
    // Nothing was read from, or created in, a store of the working directory.
    expect(existsSync(join(elsewhere, ".weir"))).toBe(false);
  });

  it("weir status says it reads through the server and shows what the server reports", async () => {
    const [status, json] = await Promise.all([remoteWeir("status"), remoteWeir("status", "--json")]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`reads through the weir server at ${server.url} (WEIR_SERVER_URL)`);
    expect(status.stdout).toMatch(new RegExp(`weir home:\\s+${home} \\(on the server\\)`));
    expect(status.stdout).toMatch(/active stack:\s+gpu-box/);
    expect(JSON.parse(json.stdout)).toMatchObject({
      server: server.url,
      home,
      metadataStore: redact(storeUrl(home)),
      activeStack: "gpu-box",
      runs: 0,
    });
    const refused = await weirWith({ cwd: elsewhere, env: { ...env, WEIR_SERVER_TOKEN: "wrong" } }, "status");
    expectUserError(refused, /answered 401/);
  });

  it("refuses the commands that write to a store, with one error line, and writes nothing", async () => {
    const attempts = [
      ["stack", "register", "other", "--orchestrator", "local"],
      ["stack", "update", "gpu-box", "--orchestrator-config", '{"maxParallel":1}'],
      ["stack", "set", "default"],
      ["stack", "delete", "gpu-box"],
      ["schedule", "create", "again", "--file", "examples/static-pipeline.ts", "--cron", "* * * * *"],
      ["schedule", "pause", "nightly-remote"],
      ["schedule", "resume", "nightly-remote"],
      ["schedule", "delete", "nightly-remote"],
      // Run commands that act on a run's record (found through the server, kept in its store).
      ["runs", "cancel", "some-run"],
      ["runs", "delete", "some-run", "--yes"],
      ["runs", "resume", "some-run"],
    ];
    for (let i = 0; i < attempts.length; i += 4) {
      const results = await Promise.all(attempts.slice(i, i + 4).map((args) => remoteWeir(...args)));
      results.forEach((result, n) => {
        const command = attempts[i + n].slice(0, 2).join(" ");
        expectUserError(result, `weir ${command} needs direct store access and is not available through WEIR_SERVER_URL (${server.url})`);
      });
    }
    const store = await openMetadataStore(home);
    expect(await store.getActiveStackName()).toBe("gpu-box");
    expect((await store.listStacks()).map((s) => s.name)).not.toContain("other");
    expect((await store.getStack("gpu-box"))?.components.find((c) => c.type === "orchestrator")?.config).toEqual({ maxParallel: 3 });
    expect(await store.getSchedule("nightly-remote")).toMatchObject({ paused: false });
    expect(await store.getSchedule("again")).toBeUndefined();
    expect(existsSync(join(elsewhere, ".weir"))).toBe(false);
  });
});
