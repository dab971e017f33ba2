/**
 * Cron expressions and the rules that decide which ticks of a schedule fire.
 *
 * croner parses and evaluates the expressions (5 fields, or 6 with seconds first; an
 * IANA timezone or UTC). This module adds nothing to cron itself: it validates up front
 * (so a bad expression is refused when the schedule is created, not when it would fire)
 * and applies the catch-up policy to the ticks a scheduler finds due.
 */
import { Cron } from "croner";
import { ScheduleError } from "../authoring/errors.js";

export type CatchupPolicy = "skip" | "latest" | "all";
export type OverlapPolicy = "allow" | "skip";

export const CATCHUP_POLICIES: readonly CatchupPolicy[] = ["skip", "latest", "all"];
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ["allow", "skip"];

/** How many missed ticks `catchup: "all"` fires at most, unless the schedule says otherwise. */
export const DEFAULT_CATCHUP_LIMIT = 10;

/**
 * A tick counts as on time while it is at most this late. A scheduler polls every few hundred
 * milliseconds, so an on-time tick is always found well within it; a later one was missed
 * (the scheduler was down) and the catch-up policy decides about it.
 */
export const MISFIRE_GRACE_MS = 5_000;

/** Throws ScheduleError naming the expression or the timezone when either is unusable. */
export function checkCron(name: string, expression: string, timezone?: string | null): void {
  if (timezone) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      throw new ScheduleError(`schedule "${name}": unknown timezone "${timezone}" (use an IANA name such as "Europe/Paris" or "UTC")`);
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { paused: true, timezone: timezone ?? undefined });
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error);
    throw new ScheduleError(`schedule "${name}": invalid cron expression "${expression}": ${reason}`);
  }
  if (cron.nextRun() === null) throw new ScheduleError(`schedule "${name}": cron expression "${expression}" never fires`);
}

/** The first tick strictly after `after` (epoch ms), or null when the expression has no more. */
export function nextTick(expression: string, timezone: string | null, after: number): number | null {
  const cron = new Cron(expression, { paused: true, timezone: timezone ?? undefined });
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

export interface DueTicks {
  /** Ticks to fire now, oldest first. */
  fire: number[];
  /** How many due ticks the catch-up policy dropped (at least; a long outage is not walked tick by tick). */
  skipped: number;
  /** The schedule's next fire time after this pass (null: the expression has no more ticks). */
  next: number | null;
}

export interface TickSchedule {
  cron: string;
  timezone: string | null;
  nextFireAt: number;
  catchup: CatchupPolicy;
  catchupLimit: number;
}

/**
 * Which due ticks (from `nextFireAt` up to `now`) fire, by the schedule's catch-up policy:
 * - `skip`: only a tick that is on time (at most MISFIRE_GRACE_MS late); missed ones are dropped;
 * - `latest`: the newest due tick, on time or not; older ones are dropped;
 * - `all`: every due tick, but at most `catchupLimit` (the newest ones), so a long outage
 *   does not start a flood of runs.
 */
export function dueTicks(schedule: TickSchedule, now: number): DueTicks {
  const cron = new Cron(schedule.cron, { paused: true, timezone: schedule.timezone ?? undefined });
  const limit = schedule.catchup === "all" ? Math.max(1, schedule.catchupLimit) : 1;
  // croner walks back from now: the newest `limit + 1` ticks at or before now tell both what
  // to fire and whether older due ticks exist, without walking a long outage tick by tick.
  const recent = cron
    .previousRuns(limit + 1, new Date(now + 1))
    .map((d) => d.getTime())
    .filter((t) => t >= schedule.nextFireAt)
    .sort((a, b) => a - b);
  const kept = recent.slice(-limit);
  const olderDue = recent.length - kept.length;
  const onTime = (t: number) => now - t <= MISFIRE_GRACE_MS;
  const fire = schedule.catchup === "skip" ? kept.filter(onTime) : kept;
  const next = cron.nextRun(new Date(Math.max(now, schedule.nextFireAt - 1)))?.getTime() ?? null;
  return { fire, skipped: olderDue + kept.length - fire.length, next };
}
