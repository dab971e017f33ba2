/** Schedule rows as both SQL dialects store them (snake_case, JSON as text, 0/1 booleans). */
import type { NewSchedule, ScheduleRecord } from "./types.js";

export interface ScheduleRow {
  id: string;
  name: string;
  pipeline_name: string;
  source: string;
  cron: string;
  timezone: string | null;
  parameters: string;
  stack_name: string | null;
  enable_cache: number;
  catchup: ScheduleRecord["catchup"];
  catchup_limit: number;
  overlap: ScheduleRecord["overlap"];
  paused: number;
  native: number;
  next_fire_at: number | string | null;
  last_fired_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

/** BIGINT columns come back as strings from PostgreSQL: every time here is a number. */
const time = (value: number | string | null): number | null => (value === null ? null : Number(value));

export function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    name: row.name,
    pipelineName: row.pipeline_name,
    source: JSON.parse(row.source) as ScheduleRecord["source"],
    cron: row.cron,
    timezone: row.timezone,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    stackName: row.stack_name,
    enableCache: Number(row.enable_cache) === 1,
    catchup: row.catchup,
    catchupLimit: Number(row.catchup_limit),
    overlap: row.overlap,
    paused: Number(row.paused) === 1,
    native: Number(row.native) === 1,
    nextFireAt: time(row.next_fire_at),
    lastFiredAt: time(row.last_fired_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The insert's values, in SCHEDULE_COLUMNS order. */
export function scheduleInsertValues(id: string, schedule: NewSchedule, now: number): unknown[] {
  return [
    id,
    schedule.name,
    schedule.pipelineName,
    JSON.stringify(schedule.source),
    schedule.cron,
    schedule.timezone,
    JSON.stringify(schedule.parameters),
    schedule.stackName,
    schedule.enableCache ? 1 : 0,
    schedule.catchup,
    schedule.catchupLimit,
    schedule.overlap,
    schedule.paused ? 1 : 0,
    schedule.native ? 1 : 0,
    schedule.nextFireAt,
    null,
    now,
    now,
  ];
}

export const SCHEDULE_COLUMNS = [
  "id", "name", "pipeline_name", "source", "cron", "timezone", "parameters", "stack_name", "enable_cache",
  "catchup", "catchup_limit", "overlap", "paused", "native", "next_fire_at", "last_fired_at", "created_at", "updated_at",
] as const;

/** Patch field → column, and how its value is stored. */
export const SCHEDULE_PATCH_COLUMNS: Record<string, { column: string; encode: (value: unknown) => unknown }> = {
  cron: { column: "cron", encode: (v) => v },
  timezone: { column: "timezone", encode: (v) => v },
  parameters: { column: "parameters", encode: (v) => JSON.stringify(v) },
  stackName: { column: "stack_name", encode: (v) => v },
  enableCache: { column: "enable_cache", encode: (v) => (v ? 1 : 0) },
  catchup: { column: "catchup", encode: (v) => v },
  catchupLimit: { column: "catchup_limit", encode: (v) => v },
  overlap: { column: "overlap", encode: (v) => v },
  paused: { column: "paused", encode: (v) => (v ? 1 : 0) },
  nextFireAt: { column: "next_fire_at", encode: (v) => v },
};
