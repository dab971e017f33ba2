import { describe, expect, it } from "vitest";
import { ScheduleError } from "../../src/authoring/errors.js";
import { checkCron, dueTicks, MISFIRE_GRACE_MS, nextTick } from "../../src/schedules/cron.js";

const T0 = Date.parse("2026-12-02T12:00:00.000Z");
const everySecond = { cron: "* * * * * *", timezone: null };

describe("cron expressions", () => {
  it("refuses a bad expression, naming the schedule and the expression", () => {
    expect(() => checkCron("nightly", "every day at noon")).toThrow(ScheduleError);
    expect(() => checkCron("nightly", "every day at noon")).toThrow(/schedule "nightly": invalid cron expression "every day at noon"/);
    expect(() => checkCron("nightly", "61 * * * *")).toThrow(/invalid cron expression "61 \* \* \* \*"/);
  });

  it("refuses an unknown timezone, naming it", () => {
    expect(() => checkCron("nightly", "0 2 * * *", "Mars/Olympus_Mons")).toThrow(/unknown timezone "Mars\/Olympus_Mons"/);
    expect(() => checkCron("nightly", "0 2 * * *", "Europe/Paris")).not.toThrow();
  });

  it("reads five fields as minutes and six as seconds first", () => {
    expect(nextTick("*/15 * * * *", null, T0)).toBe(T0 + 15 * 60_000);
    expect(nextTick("*/10 * * * * *", null, T0)).toBe(T0 + 10_000);
  });

  it("reads the expression in the schedule's timezone", () => {
    // 02:00 in Paris is 01:00 UTC in winter.
    expect(new Date(nextTick("0 2 * * *", "Europe/Paris", T0)!).toISOString()).toBe("2026-12-03T01:00:00.000Z");
    expect(new Date(nextTick("0 2 * * *", null, T0)!).toISOString()).toBe("2026-12-03T02:00:00.000Z");
  });
});

describe("which due ticks fire", () => {
  it("fires an on-time tick under every policy, and moves to the next tick after now", () => {
    for (const catchup of ["skip", "latest", "all"] as const) {
      const due = dueTicks({ ...everySecond, nextFireAt: T0, catchup, catchupLimit: 10 }, T0 + 200);
      expect(due).toEqual({ fire: [T0], skipped: 0, next: T0 + 1000 });
    }
  });

  it("skip: drops ticks missed while no scheduler ran", () => {
    const now = T0 + 60_000 + MISFIRE_GRACE_MS + 1;
    const due = dueTicks({ cron: "0 * * * * *", timezone: null, nextFireAt: T0, catchup: "skip", catchupLimit: 10 }, now);
    expect(due.fire).toEqual([]);
    expect(due.skipped).toBeGreaterThanOrEqual(1);
    expect(due.next).toBe(T0 + 120_000);
  });

  it("latest: fires only the newest missed tick", () => {
    const due = dueTicks({ ...everySecond, nextFireAt: T0, catchup: "latest", catchupLimit: 10 }, T0 + 30_500);
    expect(due.fire).toEqual([T0 + 30_000]);
    expect(due.next).toBe(T0 + 31_000);
  });

  it("all: fires every missed tick, bounded by catchupLimit (the newest ones)", () => {
    const few = dueTicks({ ...everySecond, nextFireAt: T0, catchup: "all", catchupLimit: 10 }, T0 + 2_500);
    expect(few.fire).toEqual([T0, T0 + 1000, T0 + 2000]);
    const many = dueTicks({ ...everySecond, nextFireAt: T0, catchup: "all", catchupLimit: 3 }, T0 + 30_500);
    expect(many.fire).toEqual([T0 + 28_000, T0 + 29_000, T0 + 30_000]);
    expect(many.skipped).toBeGreaterThanOrEqual(1);
  });

  // A year of per-second ticks walked one by one would outlast the test's timeout.
  it("does not walk a long outage tick by tick", () => {
    const due = dueTicks({ ...everySecond, nextFireAt: T0 - 365 * 86_400_000, catchup: "all", catchupLimit: 5 }, T0);
    expect(due.fire).toHaveLength(5);
    expect(due.fire.at(-1)).toBe(T0);
  });
});
