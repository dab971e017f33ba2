/**
 * Creating schedules: `p.schedule({...})` and `weir schedule create` both end here, so a
 * schedule is validated the same way whichever door it came through.
 */
import { isAbsolute, relative, resolve } from "node:path";
import { z } from "zod";
import { ScheduleError } from "../authoring/errors.js";
import { jsonProblem } from "../engine/args.js";
import { resolveStack } from "../stack/stack.js";
import type { MetadataStore, ScheduleRecord } from "../stores/metadata/types.js";
import { CATCHUP_POLICIES, checkCron, DEFAULT_CATCHUP_LIMIT, nextTick, OVERLAP_POLICIES } from "./cron.js";

export interface ScheduleOptions {
  /** Unique per store; runs it starts are named `<name>-<tick>` and record it. */
  name: string;
  /** 5 fields, or 6 with seconds first (`*\/10 * * * * *`: every ten seconds). */
  cron: string;
  /** IANA timezone the expression is read in (default UTC). */
  timezone?: string;
  parameters?: Record<string, unknown>;
  /** A registered stack's name (default: the active stack when the tick fires). */
  stack?: string;
  enableCache?: boolean;
  /** Ticks missed while no scheduler ran: `skip` (default), `latest` or `all` (at most `catchupLimit`). */
  catchup?: "skip" | "latest" | "all";
  catchupLimit?: number;
  /** A tick while the previous run of this schedule still runs: `allow` (default) or `skip`. */
  overlap?: "allow" | "skip";
  /** Create it paused. */
  paused?: boolean;
}

const optionsSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, '_', '-' or '.'"),
    cron: z.string().min(1),
    timezone: z.string().min(1).optional(),
    parameters: z.record(z.unknown()).optional(),
    stack: z.string().min(1).optional(),
    enableCache: z.boolean().optional(),
    catchup: z.enum(CATCHUP_POLICIES as ["skip", "latest", "all"]).optional(),
    catchupLimit: z.number().int().min(1).max(1000).optional(),
    overlap: z.enum(OVERLAP_POLICIES as ["allow", "skip"]).optional(),
    paused: z.boolean().optional(),
  })
  .strict();

/** Where a project's files are resolved from: workers and schedulers share this rule. */
export function projectRoot(): string {
  return resolve(process.env.WEIR_PROJECT_ROOT ?? process.cwd());
}

/** A module path as recorded: relative to the project root when inside it, so another checkout finds it. */
export function recordedModule(module: string): string {
  const rel = relative(projectRoot(), module);
  return rel.startsWith("..") || isAbsolute(rel) ? module : rel;
}

export async function createSchedule(
  store: MetadataStore,
  pipeline: { name: string; module: string | undefined },
  options: ScheduleOptions,
  now = Date.now(),
): Promise<ScheduleRecord> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join(".") || "options";
    const label = typeof options?.name === "string" ? `schedule "${options.name}"` : "schedule";
    throw new ScheduleError(`${label}: ${field}: ${issue.message}`);
  }
  const o = parsed.data;
  if (!pipeline.module) {
    throw new ScheduleError(`schedule "${o.name}": pipeline "${pipeline.name}" has no module on record; define it in a file`);
  }
  checkCron(o.name, o.cron, o.timezone);
  const parameters = o.parameters ?? {};
  for (const [key, value] of Object.entries(parameters)) {
    const problem = jsonProblem(value);
    if (problem) throw new ScheduleError(`schedule "${o.name}": parameter "${key}" is not JSON-serializable (${problem})`);
  }
  // The stack must exist now (not only when the first tick fires), and its orchestrator may keep the schedule itself.
  const stack = await resolveStack(store, o.stack);
  const native = stack.orchestrator.supportsSchedules;
  const record = await store.createSchedule({
    name: o.name,
    pipelineName: pipeline.name,
    source: { module: recordedModule(pipeline.module), exportName: pipeline.name },
    cron: o.cron,
    timezone: o.timezone ?? null,
    parameters,
    stackName: o.stack ?? null,
    enableCache: o.enableCache !== false,
    catchup: o.catchup ?? "skip",
    catchupLimit: o.catchupLimit ?? DEFAULT_CATCHUP_LIMIT,
    overlap: o.overlap ?? "allow",
    paused: o.paused === true,
    native,
    nextFireAt: nextTick(o.cron, o.timezone ?? null, now),
  });
  if (native) {
    try {
      await stack.orchestrator.scheduleNatively(record, stack);
    } catch (error) {
      await store.deleteSchedule(record.name); // nothing half-registered
      throw error;
    }
  }
  return record;
}

/** Deletes a schedule; a native one is removed from its orchestrator first. */
export async function deleteSchedule(store: MetadataStore, schedule: ScheduleRecord): Promise<void> {
  if (schedule.native) {
    const stack = await resolveStack(store, schedule.stackName ?? undefined);
    await stack.orchestrator.unscheduleNatively(schedule, stack);
  }
  await store.deleteSchedule(schedule.name);
}
