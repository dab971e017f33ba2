import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, LocalArtifactStore, PipelineRunFailedError, Stack, registerOrchestratorFlavor, type BaseOrchestrator } from "weir";
import { orchestratorFlavorNames } from "../../src/stack/stack.js";
import { closeMetadataStores, openMetadataStore } from "../../src/config/home.js";
import * as fx from "../fixtures/process/conformance-pipelines.js";

/**
 * What every orchestrator that runs the engine in the caller's process must do: real
 * pipelines (static, dynamic, map/collect) on a stack with that orchestrator, failures,
 * retries, timeouts and per-step logs. The test file sets WEIR_HOME before any run.
 */
export function orchestratorConformance(name: string, makeOrchestrator: () => BaseOrchestrator): void {
  describe(`orchestrator conformance: ${name}`, () => {
    let tmp: string;
    let stack: Stack;

    beforeAll(() => {
      tmp = mkdtempSync(join(tmpdir(), `weir-conf-${name}-`));
      const orchestrator = makeOrchestrator();
      stack = new Stack({ name: "conf-" + name, orchestrator, artifactStore: new LocalArtifactStore({ path: join(tmp, "artifacts") }) });
      // `await p()` runs on the active stack, rebuilt from its record by flavor.
      if (!orchestratorFlavorNames().includes(orchestrator.flavor)) registerOrchestratorFlavor(orchestrator.flavor, () => makeOrchestrator());
    });
    afterAll(async () => {
      await closeMetadataStores();
      rmSync(tmp, { recursive: true, force: true });
    });

    it("supports dynamic pipelines", () => {
      expect(makeOrchestrator().supportsDynamicPipelines).toBe(true);
    });

    it("runs a static chain and returns its output", async () => {
      const run = await fx.staticChain.run({}, { stack, enableCache: false });
      expect(run.error).toBe(null);
      expect(run.status).toBe("completed");
      expect(await run.output()).toBe("saved 200");
      expect(run.steps.map((s) => [s.name, s.status])).toEqual([
        ["load_data", "completed"],
        ["process_data", "completed"],
        ["save_results", "completed"],
      ]);
    });

    it("fans in a list of handles", async () => {
      const run = await fx.fanIn.run({}, { stack, enableCache: false });
      expect(run.error).toBe(null);
      expect(await run.output()).toBe(14);
      expect(run.steps.map((s) => s.name).sort()).toEqual(["square", "square_2", "square_3", "total"]);
    });

    it("fails the run on a failed step: downstream skipped, independent steps complete", async () => {
      const run = await fx.failing.run({}, { stack });
      expect(run.status).toBe("failed");
      const status = Object.fromEntries(run.steps.map((s) => [s.name, s.status]));
      expect(status).toEqual({ explode: "failed", after_explode: "skipped", independent: "completed" });
      expect(run.steps.find((s) => s.name === "explode")!.error).toContain("boom from explode");

      // Calling the pipeline (active stack = this one) rejects with PipelineRunFailedError.
      const store = await openMetadataStore();
      const previous = await store.getActiveStackName();
      await store.setActiveStack(stack.name);
      try {
        const error = await fx.failing().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(PipelineRunFailedError);
        expect((error as PipelineRunFailedError).failedSteps).toEqual(["explode"]);
        expect((error as Error).message).toContain("boom from explode");
      } finally {
        if (previous) await store.setActiveStack(previous);
      }
    });

    it("runs a dynamic pipeline that branches on an awaited value", async () => {
      const small = await fx.branching.run({ size: 5 }, { stack, enableCache: false });
      expect(small.error).toBe(null);
      expect(small.isDynamic).toBe(true);
      expect(await small.output()).toBe("small-5");
      expect(small.steps.map((s) => s.name)).toEqual(["check_size", "process_small"]);
      const large = await fx.branching.run({ size: 500 }, { stack });
      expect(await large.output()).toBe("large-500");
      expect(large.steps.map((s) => s.name)).toEqual(["check_size", "process_large"]);
    });

    it("maps over a dynamic output and collects the results", async () => {
      const run = await fx.mapCollect.run({}, { stack, enableCache: false });
      expect(run.error).toBe(null);
      expect(await run.output()).toBe("A.TXT,B.TXT,C.TXT");
      const mapped = run.steps.filter((s) => s.stepName === "shout");
      expect(mapped.map((s) => s.name).sort()).toEqual(["shout[a]", "shout[b]", "shout[c]"]);
      expect(mapped.map((s) => s.mappingKey).sort()).toEqual(["a", "b", "c"]);
      expect(mapped.every((s) => s.status === "completed")).toBe(true);
    });

    it("retries a failed attempt", async () => {
      const dir = mkdtempSync(join(tmp, "retry-"));
      const run = await fx.retrying.run({ dir }, { stack });
      expect(run.error).toBe(null);
      expect(await run.output()).toBe("ok after 2");
      const flaky = run.steps.find((s) => s.name === "flaky")!;
      expect(flaky.status).toBe("completed");
      expect(flaky.attempts).toBe(2);
    });

    it("fails a step that runs past its timeout", async () => {
      const started = Date.now();
      const run = await fx.timingOut.run({}, { stack });
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(run.status).toBe("failed");
      const sleepy = run.steps.find((s) => s.name === "sleepy")!;
      expect(sleepy.status).toBe("failed");
      expect(sleepy.error).toMatch(/timed out after 500 ms/);
    });

    it("stores each step run's stdout, stderr and context.log lines", async () => {
      const run = await fx.logging.run({}, { stack, enableCache: false });
      expect(run.error).toBe(null);
      const logs = await new Client().getLogs(run.id, "chatty");
      const lines = logs.map((l) => [l.stream, l.message]);
      expect(lines).toContainEqual(["stdout", "hello from console.log"]);
      expect(lines).toContainEqual(["stderr", "hello from console.error"]);
      expect(lines).toContainEqual(["log", "hello from context.log 42"]);
    });

    it("gives every run its own orchestrator run id", async () => {
      const first = await fx.staticChain.run({}, { stack });
      const second = await fx.staticChain.run({}, { stack });
      expect(first.orchestratorRunId).toBeTruthy();
      expect(second.orchestratorRunId).toBeTruthy();
      expect(first.orchestratorRunId).not.toBe(second.orchestratorRunId);
    });
  });
}
