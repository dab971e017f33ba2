import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import { expectUserError, runIdOf, tempHome, weir } from "./weir.js";

const home = tempHome();
afterAll(() => closeMetadataStores());

describe("weir logs and artifacts", () => {
  let runId: string;

  beforeAll(async () => {
    const run = await weir(home, "run", "test/fixtures/cli-pipelines.ts", "--pipeline", "logging_pipeline");
    expect(run.code).toBe(0);
    runId = runIdOf(run);
  });

  it("prints the stored log lines of a run and of one step run", async () => {
    const [all, step, follow] = await Promise.all([
      weir(home, "logs", runId),
      weir(home, "logs", runId, "chatty_step"),
      // The run has ended, so --follow prints what there is and exits.
      weir(home, "logs", runId, "--follow"),
    ]);
    for (const result of [all, step, follow]) {
      expect(result.code).toBe(0);
      // Each line: time, step run, stream, message.
      expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +chatty_step +stdout +hello from console\.log$/m);
      expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +chatty_step +log +hello from the step context$/m);
    }
    expectUserError(await weir(home, "logs", runId, "nope"), 'has no step run "nope"');
  });

  it("follows the logs of a running run until it ends", async () => {
    const run = weir(home, "run", "test/fixtures/cli-pipelines.ts", "--pipeline", "logging_pipeline", "--param", "delayMs=2500", "--run-name", "slow-logger");
    // Start following once the run is going (read from its store here, which is cheaper than spawning the CLI).
    const store = await openMetadataStore(home);
    while (!(await store.listRuns()).some((r) => r.name === "slow-logger" && r.status === "running")) await sleep(50);
    const follow = await weir(home, "logs", "slow-logger", "--follow");
    expect((await run).code).toBe(0);
    expect(follow.code).toBe(0);
    expect(follow.stdout).toContain("hello from the step context");
    // Logged after `logs --follow` started: it kept polling until the run had ended.
    expect(follow.stdout).toMatch(/chatty_step +log +done$/m);
  });

  it("lists artifact versions and shows one with its value", async () => {
    const list = await weir(home, "artifacts", "list", "--limit", "5");
    expect(list.code).toBe(0);
    const row = list.stdout.split("\n").find((l) => l.includes("logging_pipeline::chatty_step::output"));
    const id = row && /│ ([0-9a-f]{12}) │/.exec(row)?.[1];
    expect(id).toBeTruthy();

    const show = await weir(home, "artifacts", "show", id!);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/name:\s+logging_pipeline::chatty_step::output/);
    expect(show.stdout).toMatch(/value:\n1\n/);
    expectUserError(await weir(home, "artifacts", "show", "zzz"), 'no artifact version matches "zzz"');
  });
});
