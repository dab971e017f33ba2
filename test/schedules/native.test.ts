// Orchestrators with schedulers of their own, and the Scheduler class driven in-process.
import { afterAll, describe, expect, it } from "vitest";
import { BaseOrchestrator, Stack, type SubmissionResult } from "../../src/index.js";
import { LocalOrchestrator } from "../../src/orchestrators/local/local-orchestrator.js";
import { Scheduler } from "../../src/schedules/scheduler.js";
import type { ScheduleRecord } from "../../src/stores/metadata/types.js";
import { closeMetadataStores } from "../../src/config/home.js";
import { store, useTempHome } from "../helpers.js";
import { quickPipeline } from "../fixtures/schedule-pipelines.js";

useTempHome("weir-native-schedules-");
afterAll(closeMetadataStores);

class CronJobOrchestrator extends BaseOrchestrator {
  readonly registered: string[] = [];
  readonly removed: string[] = [];
  async submitPipeline(): Promise<SubmissionResult | undefined> {
    return undefined;
  }
  override async scheduleNatively(schedule: ScheduleRecord): Promise<void> {
    if (schedule.name === "refused") throw new Error("the cluster refused the CronJob");
    this.registered.push(schedule.name);
  }
  override async unscheduleNatively(schedule: ScheduleRecord): Promise<void> {
    this.removed.push(schedule.name);
  }
}

describe("native schedules", () => {
  it("supportsSchedules is true exactly when scheduleNatively is overridden", () => {
    expect(new LocalOrchestrator().supportsSchedules).toBe(false);
    expect(new CronJobOrchestrator().supportsSchedules).toBe(true);
  });

  it("hands the schedule to an orchestrator that keeps schedules, and weir's scheduler leaves it alone", async () => {
    const orchestrator = new CronJobOrchestrator({ name: "cronjobs" });
    const stack = new Stack({ name: "cluster", orchestrator });
    const s = await store();
    await s.saveStack({ name: stack.name, components: stack.components() });
    const { registerOrchestratorFlavor } = await import("../../src/stack/stack.js");
    registerOrchestratorFlavor("custom", () => orchestrator);

    const created = await quickPipeline.schedule({ name: "on_cluster", cron: "* * * * * *", stack: "cluster" });
    expect(created.native).toBe(true);
    expect(orchestrator.registered).toEqual(["on_cluster"]);

    // A failing registration leaves no schedule behind.
    await expect(quickPipeline.schedule({ name: "refused", cron: "* * * * *", stack: "cluster" })).rejects.toThrow(/refused the CronJob/);
    expect(await s.getSchedule("refused")).toBeUndefined();

    const launched: string[] = [];
    const scheduler = new Scheduler({
      store: s,
      now: () => created.nextFireAt! + 100,
      launch: (schedule) => {
        launched.push(schedule.name);
        return { exited: Promise.resolve({ code: 0, stderr: "" }) };
      },
      log: () => {},
    });
    await scheduler.pass();
    expect(launched).toEqual([]);
  });

  it("an unknown stack is refused when the schedule is created, not when it fires", async () => {
    await expect(quickPipeline.schedule({ name: "nowhere", cron: "* * * * *", stack: "no_such_stack" })).rejects.toThrow(/no stack named "no_such_stack"/);
  });

  it("a Scheduler pass claims and launches each due tick once, even when two passes race", async () => {
    const s = await store();
    const created = await quickPipeline.schedule({ name: "raced", cron: "* * * * * *" });
    const launched: number[] = [];
    const make = () =>
      new Scheduler({
        store: s,
        now: () => created.nextFireAt! + 2_100,
        launch: (_schedule, tick) => {
          launched.push(tick);
          return { exited: Promise.resolve({ code: 0, stderr: "" }) };
        },
        log: () => {},
      });
    await Promise.all([make().pass(), make().pass(), make().pass()]);
    // catch-up "skip": only the on-time newest tick fires, exactly once.
    expect(launched).toEqual([created.nextFireAt! + 2_000]);
    expect((await s.getSchedule("raced"))!.nextFireAt).toBe(created.nextFireAt! + 3_000);
  });
});
