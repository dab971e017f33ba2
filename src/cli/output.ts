import Table from "cli-table3";
import { CommanderError } from "commander";
import { inspect } from "node:util";
import type { PipelineRun, StepRunView } from "../client/run-view.js";

/** A mistake of the person at the keyboard: reported as one `error:` line, never a stack. */
export class CliError extends Error {}

/**
 * WeirError subclasses are user mistakes too. They are recognised by the class name in
 * the prototype chain rather than `instanceof`: a pipeline file inside the weir repository
 * imports the source tree (tsconfig paths) while the CLI is the built copy, so an error
 * can come from either copy of the class.
 */
function isWeirError(error: unknown): boolean {
  for (let proto = error; proto; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === "WeirError") return true;
  }
  return false;
}

/** Prints an error the CLI's way and returns the exit code to use. */
export function reportError(error: unknown): number {
  // Commander has already printed its own message (or the help, with exit code 0).
  if (error instanceof CommanderError) return error.exitCode;
  const debug = process.env.WEIR_DEBUG === "1";
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message.split("\n")[0]}\n`);
  if (debug) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    process.stderr.write(`${cause instanceof Error ? cause.stack : inspect(cause)}\n`);
  } else if (!(error instanceof CliError) && !isWeirError(error)) {
    process.stderr.write("(unexpected error: set WEIR_DEBUG=1 to see where it came from)\n");
  }
  return 1;
}

export function table(head: string[], rows: (string | number)[][]): string {
  // No colours: the output is read by people and by scripts alike.
  const t = new Table({ head, style: { head: [], border: [], compact: true } });
  t.push(...rows.map((row) => row.map(String)));
  return t.toString();
}

/** Key/value lines with the values aligned. */
export function details(entries: [string, string | number | null | undefined][]): string {
  const width = Math.max(...entries.map(([key]) => key.length)) + 1;
  return entries
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${`${key}:`.padEnd(width)} ${value ?? "-"}`)
    .join("\n");
}

export function formatTime(date: Date | null): string {
  if (!date) return "-";
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** Duration of something that started and maybe ended; still going counts up to now. */
export function span(start: Date | null, end: Date | null): string {
  if (!start) return "-";
  return formatDuration((end ?? new Date()).getTime() - start.getTime()) + (end ? "" : "…");
}

/**
 * Ids are time-ordered UUIDs: ids made in the same minute share their first characters,
 * so tables show the last 12 (random) ones, which commands accept like a prefix.
 */
export function shortId(id: string): string {
  return id.slice(-12);
}

/** Whether a reference typed by a user (a prefix or the shown short id) points at this id. */
export function matchesId(id: string, reference: string): boolean {
  return id.startsWith(reference) || (reference.length >= 8 && id.endsWith(reference));
}

/** A value for people: JSON when it is plain JSON data, else Node's inspection; cut at `max` characters. */
export function formatValue(value: unknown, max = 2000): string {
  const text = isPlainJson(value) ? JSON.stringify(value, null, 2) : inspect(value, { depth: 6 });
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text;
}

// Maps, typed arrays, dates, class instances… would lose information (or flood) as JSON.
function isPlainJson(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isPlainJson);
  if (typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && Object.values(value).every(isPlainJson);
}

/** A value on one table line. */
export function oneLine(value: unknown, max = 60): string {
  const text = formatValue(value, Infinity).replace(/\s*\n\s*/g, " ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function runStatus(run: Pick<PipelineRun, "status" | "alive">): string {
  const driven = run.status === "running" || run.status === "initializing";
  return driven && !run.alive ? `${run.status} (dead)` : run.status;
}

export function stepTable(steps: StepRunView[]): string {
  return table(
    ["step", "status", "attempts", "duration"],
    steps.map((s) => [s.name, s.status, s.attempts, span(s.startedAt, s.endedAt)]),
  );
}

/** What `weir run`, `weir runs resume` and `weir orchestrate` print about a finished run. */
export async function printRunResult(run: PipelineRun): Promise<void> {
  console.log(
    details([
      ["run", run.id],
      ["name", run.name],
      ["pipeline", `${run.pipelineName}${run.isDynamic ? " (dynamic)" : ""}`],
      ["status", `${runStatus(run)} in ${span(run.startedAt ?? run.createdAt, run.endedAt)}`],
    ]),
  );
  if (run.steps.length > 0) console.log(stepTable(run.steps));
  if (run.status === "completed") {
    console.log(`output:\n${formatValue(await run.output())}`);
  } else if (run.error) {
    console.log(`error: ${run.error}`);
  }
}
