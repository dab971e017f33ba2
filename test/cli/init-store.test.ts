// `weir init --store URL`: the store is chosen by URL and kept in .weir/config.json, so every
// later command (and every process it starts) uses it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionOptions } from "../../src/stores/metadata/postgres/postgres-store.js";
import { createTestDatabase } from "../stores/postgres-database.js";
import { expectUserError, runIdOf, tempHome, weirWith } from "./weir.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

// Without WEIR_STORE_URL (which would win over the config file).
const inHome = (home: string) => ({ env: { WEIR_HOME: home, WEIR_STORE_URL: undefined } });

describe("weir init --store", () => {
  it("keeps a PostgreSQL store in .weir/config.json, and runs then land in it", async () => {
    const home = tempHome();
    const init = await weirWith(inHome(home), "init", "--store", database.url);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/metadata store:\s+postgresql:\/\/127\.0\.0\.1:5432\/weir_test_\w+ \(postgres\)/);
    expect(JSON.parse(readFileSync(join(home, "config.json"), "utf8"))).toEqual({ storeUrl: database.url });
    expect(existsSync(join(home, "weir.db"))).toBe(false);

    const run = await weirWith(inHome(home), "run", "examples/static-pipeline.ts");
    expect(run.code, run.stderr).toBe(0);
    const client = new pg.Client(connectionOptions(database.url));
    await client.connect();
    try {
      const rows = await client.query(`SELECT id, status FROM pipeline_runs`);
      expect(rows.rows).toEqual([{ id: runIdOf(run), status: "completed" }]);
    } finally {
      await client.end();
    }
    const status = await weirWith(inHome(home), "status");
    expect(status.stdout).toContain(database.name);
  });

  it("gives step processes the store's URL, never the home folder (a scratch-folder .mjs on local_process)", async () => {
    // A project whose .weir/ is found from the working directory, with its store elsewhere.
    const project = mkdtempSync(join(tmpdir(), "weir-url-project-"));
    mkdirSync(join(project, ".weir"));
    const storeFile = join(mkdtempSync(join(tmpdir(), "weir-url-store-")), "team.db");
    const here = { cwd: project, env: { WEIR_HOME: undefined, WEIR_STORE_URL: undefined } };
    expect((await weirWith(here, "init", "--store", `sqlite:${storeFile}`)).code).toBe(0);
    writeFileSync(
      join(project, "where.mjs"),
      `import { writeFileSync } from "node:fs";
import { pipeline, step } from "weir";
const where = step(function where() {
  const seen = { storeUrl: process.env.WEIR_STORE_URL ?? null, home: process.env.WEIR_HOME ?? null };
  writeFileSync(new URL("./seen.json", import.meta.url), JSON.stringify(seen));
});
export const p = pipeline(function where_pipeline() { where(); });
`,
    );
    const register = await weirWith(here, "stack", "register", "isolated", "--orchestrator", "local_process");
    expect(register.code, register.stderr).toBe(0);
    const run = await weirWith(here, "run", "where.mjs", "--stack", "isolated");
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(project, "seen.json"), "utf8"))).toEqual({ storeUrl: `sqlite:${storeFile}`, home: null });
    expect(existsSync(storeFile)).toBe(true);
    expect(existsSync(join(project, ".weir", "weir.db"))).toBe(false);
  });

  it("refuses a store it cannot open, and keeps no config for it", async () => {
    const home = tempHome();
    const bad = await weirWith(inHome(home), "init", "--store", "mysql://127.0.0.1/nope");
    expectUserError(bad, /unknown scheme "mysql:"/);
    expect(existsSync(join(home, "config.json"))).toBe(false);
  });
});
