import { InvalidArgumentError, type Command } from "commander";
import { openMetadataStore } from "../../config/home.js";
import { isAlive } from "../../stores/metadata/liveness.js";
import { createSchedule, deleteSchedule } from "../../schedules/create.js";
import { nextTick } from "../../schedules/cron.js";
import { Scheduler } from "../../schedules/scheduler.js";
import type { ScheduleRecord } from "../../stores/metadata/types.js";
import { CliError, formatTime, table } from "../output.js";
import { refuseThroughServer, remoteServer } from "../remote.js";
import { importPipelines, pickPipeline } from "../resolve.js";
import { parseParams } from "./run.js";

interface CreateFlags {
  file: string;
  pipeline?: string;
  cron: string;
  timezone?: string;
  param: string[];
  stack?: string;
  cache: boolean;
  catchup?: "skip" | "latest" | "all";
  catchupLimit?: number;
  overlap?: "allow" | "skip";
  paused?: boolean;
}

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command("schedule").description("run pipelines on cron: create, list, pause, resume, delete schedules");

  schedule
    .command("create")
    .description("schedule a pipeline; `weir scheduler` (or `weir server`) fires it")
    .argument("<name>", "schedule name (letters, digits, _ - .)")
    .requiredOption("--file <file>", "module that exports the pipeline")
    .option("--pipeline <name>", "which pipeline, when the file exports several")
    .requiredOption("--cron <expr>", 'cron expression: 5 fields, or 6 with seconds first ("*/10 * * * * *")')
    .option("--timezone <tz>", "IANA timezone the expression is read in (default UTC)")
    .option("--param <key=value>", "pipeline parameter, as for weir run (repeatable)", (v: string, p: string[]) => [...p, v], [])
    .option("--stack <name>", "stack to run on (default: the active stack when the tick fires)")
    .option("--no-cache", "run every step of the scheduled runs")
    .option("--catchup <policy>", "missed ticks after downtime: skip (default), latest, all", policy(["skip", "latest", "all"]))
    .option("--catchup-limit <n>", "with --catchup all: at most this many missed ticks (default 10)", positiveInteger)
    .option("--overlap <policy>", "a tick while the previous run still runs: allow (default), skip", policy(["allow", "skip"]))
    .option("--paused", "create it paused")
    .action(async (name: string, flags: CreateFlags) => {
      refuseThroughServer("schedule create");
      const pipeline = pickPipeline(flags.file, await importPipelines(flags.file), flags.pipeline);
      const created = await createSchedule(await openMetadataStore(), pipeline.definition, {
        name,
        cron: flags.cron,
        timezone: flags.timezone,
        parameters: parseParams(flags.param),
        stack: flags.stack,
        enableCache: flags.cache,
        catchup: flags.catchup,
        catchupLimit: flags.catchupLimit,
        overlap: flags.overlap,
        paused: flags.paused,
      });
      console.log(`schedule ${created.name}: ${created.pipelineName} on "${created.cron}"${created.timezone ? ` (${created.timezone})` : " (UTC)"}`);
      console.log(created.paused ? "paused" : `next run ${formatTime(at(created.nextFireAt))}`);
    });

  schedule
    .command("list")
    .description("schedules with their next fire times")
    .option("--json", "print JSON")
    .action(async (flags: { json?: boolean }) => {
      const server = remoteServer();
      const schedules: ScheduleRecord[] = server
        ? (await server.listSchedules()).map(({ recentRuns: _recentRuns, ...s }) => s)
        : await (await openMetadataStore()).listSchedules();
      if (flags.json) {
        console.log(JSON.stringify(schedules, null, 2));
        return;
      }
      if (schedules.length === 0) {
        console.log("no schedules (weir schedule create NAME --file F --cron EXPR)");
        return;
      }
      console.log(
        table(
          ["name", "pipeline", "cron", "timezone", "state", "next", "last tick", "catch-up", "overlap"],
          schedules.map((s) => [
            s.name,
            s.pipelineName,
            s.cron,
            s.timezone ?? "UTC",
            s.paused ? "paused" : "active",
            s.paused ? "-" : formatTime(at(s.nextFireAt)),
            formatTime(at(s.lastFiredAt)),
            s.catchup === "all" ? `all (≤ ${s.catchupLimit})` : s.catchup,
            s.overlap,
          ]),
        ),
      );
    });

  schedule
    .command("pause")
    .description("stop firing a schedule (runs already started go on)")
    .argument("<name>")
    .action(async (name: string) => {
      refuseThroughServer("schedule pause");
      const store = await openMetadataStore();
      await existing(name);
      await store.updateSchedule(name, { paused: true });
      console.log(`schedule ${name} paused`);
    });

  schedule
    .command("resume")
    .description("fire a paused schedule again, from its next tick (ticks during the pause are not run)")
    .argument("<name>")
    .action(async (name: string) => {
      refuseThroughServer("schedule resume");
      const store = await openMetadataStore();
      const s = await existing(name);
      const next = nextTick(s.cron, s.timezone, Date.now());
      await store.updateSchedule(name, { paused: false, nextFireAt: next });
      console.log(`schedule ${name} resumed; next run ${formatTime(at(next))}`);
    });

  schedule
    .command("delete")
    .description("delete a schedule (its runs keep its name)")
    .argument("<name>")
    .action(async (name: string) => {
      refuseThroughServer("schedule delete");
      const store = await openMetadataStore();
      await deleteSchedule(store, await existing(name));
      console.log(`schedule ${name} deleted`);
    });

  program
    .command("scheduler")
    .description("fire due schedules until stopped (any number may run against one store)")
    .option("--poll <ms>", "how often to look for due schedules", positiveInteger, 500)
    .option("--once", "one pass, then wait for the runs it started and exit")
    .action(async (flags: { poll: number; once?: boolean }) => {
      refuseThroughServer("scheduler");
      const store = await openMetadataStore();
      const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
      const scheduler = new Scheduler({ store, pollMs: flags.poll, isRunning: (run) => isAlive(run), log });
      if (flags.once) {
        await scheduler.pass();
      } else {
        log(`scheduler started (pid ${process.pid}), polling every ${flags.poll} ms`);
        scheduler.start();
        await new Promise<void>((resolveStop) => {
          for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolveStop());
        });
        await scheduler.stop();
        log("scheduler stopping; waiting for the runs it started");
      }
      await Promise.all(scheduler.inFlight);
    });
}

async function existing(name: string): Promise<ScheduleRecord> {
  const found = await (await openMetadataStore()).getSchedule(name);
  if (!found) throw new CliError(`no schedule named "${name}" (see weir schedule list)`);
  return found;
}

const at = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

function policy<T extends string>(allowed: T[]): (value: string) => T {
  return (value) => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`use one of: ${allowed.join(", ")}`);
    return value as T;
  };
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive integer");
  return n;
}
