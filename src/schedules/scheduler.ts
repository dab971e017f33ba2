/**
 * The scheduler loop (`weir scheduler`, and inside `weir server`): fires every due schedule.
 *
 * Any number of schedulers may run against one store. Each tick fires once because firing
 * starts with a claim in the store: a compare-and-set of the schedule's `next_fire_at` from
 * the value this scheduler read to the next tick. Exactly one claimant wins; the others see
 * the row moved on and fire nothing. The claim comes before the launch, so a scheduler that
 * dies between the two loses that tick rather than risking it twice (and the run name, the
 * schedule plus the tick, is refused a second time by the store anyway).
 */
import type { MetadataStore, RunRecord, ScheduleRecord } from "../stores/metadata/types.js";
import { dueTicks } from "./cron.js";
import { launchScheduledRun, type LaunchedRun } from "./launch.js";

/** A fired tick whose run row has not appeared yet is assumed to be starting for this long. */
const STARTING_GRACE_MS = 30_000;

export interface SchedulerOptions {
  store: MetadataStore;
  /** How often to look for due schedules (default 500 ms: per-second crons stay on time). */
  pollMs?: number;
  /** Starts the run of one tick (default: `weir run` in a child process). */
  launch?: (schedule: ScheduleRecord, tick: number) => LaunchedRun;
  /** Whether a run of the schedule is still going (default: by status; the CLI passes a liveness check). */
  isRunning?: (run: RunRecord) => boolean;
  log?: (line: string) => void;
  now?: () => number;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private stopped = false;
  /** Runs this scheduler started that have not exited yet. */
  readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: SchedulerOptions) {}

  /** Polls until stop(). */
  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.pass().catch((error) => this.log(`scheduler pass failed: ${error instanceof Error ? error.message : String(error)}`));
      if (!this.stopped) this.timer = setTimeout(loop, this.options.pollMs ?? 500);
    };
    void loop();
  }

  /** Stops polling; resolves once the current pass is over (runs already started go on). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.passing;
  }

  /** One look at every schedule: fires what is due. */
  pass(): Promise<void> {
    this.passing = this.fireDue();
    return this.passing;
  }

  private async fireDue(): Promise<void> {
    const { store } = this.options;
    for (const schedule of await store.listSchedules()) {
      const now = this.now();
      if (schedule.paused || schedule.native || schedule.nextFireAt === null || schedule.nextFireAt > now) continue;
      const due = dueTicks({ ...schedule, nextFireAt: schedule.nextFireAt }, now);
      let fire = due.fire;
      let overlapSkipped = 0; // due ticks the overlap policy keeps from starting
      if (fire.length > 0 && schedule.overlap === "skip") {
        // Only the newest tick may start, and only when the previous run has ended.
        overlapSkipped = fire.length - 1;
        fire = fire.slice(-1);
        const previous = await this.previousRunState(schedule, now);
        if (previous) {
          this.log(`schedule ${schedule.name}: tick ${iso(fire[0])} skipped, ${previous}`);
          overlapSkipped += 1;
          fire = [];
        }
      }
      const lastFired = fire.at(-1) ?? schedule.lastFiredAt ?? null;
      const won = await store.claimScheduleTick(schedule.name, schedule.nextFireAt, due.next, lastFired);
      if (!won) continue; // another scheduler fired it (or it was paused meanwhile)
      if (due.skipped > 0) this.log(`schedule ${schedule.name}: ${due.skipped} missed tick(s) not run (catch-up policy "${schedule.catchup}")`);
      if (overlapSkipped > 1) this.log(`schedule ${schedule.name}: ${overlapSkipped - 1} older due tick(s) dropped (overlap policy "skip" starts one)`);
      for (const tick of fire) this.startRun(schedule, tick);
    }
  }

  private startRun(schedule: ScheduleRecord, tick: number): void {
    const launch = this.options.launch ?? launchScheduledRun;
    this.log(`schedule ${schedule.name}: firing tick ${iso(tick)}`);
    const { exited } = launch(schedule, tick);
    const done = exited.then(({ code, stderr }) => {
      if (code !== 0) {
        const reason = stderr.trim().split("\n").at(-1) ?? "";
        this.log(`schedule ${schedule.name}: run of tick ${iso(tick)} exited with code ${code}${reason ? `: ${reason}` : ""}`);
      }
    });
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  /** Why the previous run of the schedule counts as still going, or undefined when it does not. */
  private async previousRunState(schedule: ScheduleRecord, now: number): Promise<string | undefined> {
    const [latest] = await this.options.store.listRuns({ scheduleName: schedule.name, limit: 1 });
    const isRunning = this.options.isRunning ?? ((r: RunRecord) => r.status === "running" || r.status === "initializing");
    if (latest && (latest.scheduledFor ?? 0) >= (schedule.lastFiredAt ?? 0)) {
      return isRunning(latest) ? `previous run ${latest.name} is still ${latest.status} (overlap policy "skip")` : undefined;
    }
    // The last fired tick has no run row yet: its process is still starting.
    if (schedule.lastFiredAt && now - schedule.updatedAt < STARTING_GRACE_MS) {
      return `the run of tick ${iso(schedule.lastFiredAt)} is still starting (overlap policy "skip")`;
    }
    return undefined;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => console.log(l)))(line);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
