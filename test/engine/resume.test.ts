import { describe, expect, it } from "vitest";
import { DynamicOutput, NonDeterminismError, pipeline, ResumeError, step } from "weir";
import { store, useTempHome } from "../helpers.js";

useTempHome();

describe("resume", () => {
  it("continues a failed static run in place without re-running completed steps", async () => {
    const executed: string[] = [];
    let fail = true;
    const first = step(function resume_first() {
      executed.push("first");
      return 1;
    });
    const second = step(function resume_second(x: number) {
      executed.push("second");
      if (fail) throw new Error("transient outage");
      return x + 1;
    });
    const third = step(function resume_third(x: number) {
      executed.push("third");
      return x * 10;
    });
    const p = pipeline({ name: "resumable_static", enableCache: false }, function () {
      return third(second(first()));
    });
    const failed = await p.run();
    expect(failed.status).toBe("failed");
    expect(failed.steps.map((s) => s.status)).toEqual(["completed", "failed", "skipped"]);

    fail = false;
    const resumed = await p.resume(failed.id);
    expect(resumed.id).toBe(failed.id);
    expect(resumed.status).toBe("completed");
    expect(await resumed.output()).toBe(20);
    expect(executed).toEqual(["first", "second", "second", "third"]);
    expect(resumed.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ["resume_first", "completed", 1],
      ["resume_second", "completed", 2],
      ["resume_third", "completed", 1],
    ]);
    expect(resumed.steps[1].id).toBe(failed.steps[1].id);
    // The orchestrator run id survives a restart of the orchestration.
    expect(resumed.orchestratorRunId).toBe(failed.orchestratorRunId);
  });

  it("replays a dynamic function, answering completed steps from the record", async () => {
    const executed: string[] = [];
    let failAt = 2;
    const items = step({ dynamicOutput: true }, function* resume_items() {
      executed.push("items");
      for (const k of ["a", "b", "c"]) yield new DynamicOutput(k, { mappingKey: k });
    });
    const work = step(function resume_work(key: string) {
      executed.push(`work ${key}`);
      if (key === "b" && failAt-- > 0) throw new Error("b is not ready");
      return key.toUpperCase();
    });
    const p = pipeline({ name: "resumable_dynamic", dynamic: true, enableCache: false }, async () => {
      const results = await items().map(work).collect();
      return results.join("");
    });
    const failed = await p.run();
    expect(failed.status).toBe("failed");
    expect(failed.steps.find((s) => s.name === "resume_work[b]")!.status).toBe("failed");
    executed.length = 0;
    failAt = 0;
    const resumed = await p.resume(failed.id);
    expect(resumed.status).toBe("completed");
    expect(await resumed.output()).toBe("ABC");
    expect(executed).toEqual(["work b"]);
  });

  it("stops with a non-determinism error when the replay asks for a different step", async () => {
    let branch = "left";
    let fail = true;
    const decide = step(function nd_decide() {
      return 1;
    });
    const left = step(function nd_left() {
      if (fail) throw new Error("left failed");
      return "left";
    });
    const right = step(function nd_right() {
      return "right";
    });
    const p = pipeline({ name: "nondeterministic", dynamic: true, enableCache: false }, async () => {
      await decide();
      return branch === "left" ? left() : right();
    });
    const failed = await p.run();
    expect(failed.status).toBe("failed");
    branch = "right";
    fail = false;
    const resumed = await p.resume(failed.id);
    expect(resumed.status).toBe("failed");
    expect(resumed.cause).toBeInstanceOf(NonDeterminismError);
    expect(resumed.error).toMatch(/at position 1 the recorded run has step "nd_left" but the replay asked for "nd_right"/);
  });

  it("refuses to resume a completed run or one of another pipeline", async () => {
    const ok = step(function resume_ok() {
      return 1;
    });
    const p = pipeline(function done_pipeline() {
      return ok();
    });
    const other = pipeline(function other_pipeline() {
      return ok();
    });
    const run = await p.run();
    await expect(p.resume(run.id)).rejects.toThrow(ResumeError);
    await expect(p.resume(run.id)).rejects.toThrow(/already completed/);
    const broken = step(function resume_broken() {
      throw new Error("broken");
    });
    const failedRun = await pipeline(function failing_other() {
      broken();
    }).run();
    expect((await (await store()).getRun(failedRun.id))!.status).toBe("failed");
    await expect(other.resume(failedRun.id)).rejects.toThrow(/belongs to pipeline "failing_other", not "other_pipeline"/);
    await expect(p.resume("no-such-run")).rejects.toThrow(/no run with id "no-such-run"/);
  });
});
