import { table as renderTable, type TableUserConfig } from "table";
import { CommanderError, type Command } from "commander";
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

/** Box lines around the table and under the header row only (no colours: people and scripts read it). */
const TABLE_STYLE: TableUserConfig = {
  border: {
    topBody: "─", topJoin: "┬", topLeft: "┌", topRight: "┐",
    bottomBody: "─", bottomJoin: "┴", bottomLeft: "└", bottomRight: "┘",
    bodyLeft: "│", bodyRight: "│", bodyJoin: "│",
    joinBody: "─", joinLeft: "├", joinRight: "┤", joinJoin: "┼",
  },
  drawHorizontalLine: (line, rowCount) => line === 0 || line === 1 || line === rowCount,
};

/**
 * A table of rows under a header. `table` (gajus/table) lays it out in time linear in its
 * rows: cli-table3, used before, took 38 s for the 20,000 step runs of one run
 * (cli-table/cli-table3#68).
 */
export function table(head: string[], rows: (string | number)[][]): string {
  // Line breaks in a cell become lines of its row; other control characters (a tab in an
  // error message) would break the layout, and `table` refuses them: shown as spaces.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const cell = (value: string | number) => String(value).replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, " ");
  return renderTable([head.map(cell), ...rows.map((row) => row.map(cell))], TABLE_STYLE).replace(/\n$/, "");
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
 * so tables show the last 12 (random) ones. Commands accept those (any end of an id) as
 * well as a prefix; see matchesId.
 */
export function shortId(id: string): string {
  return id.slice(-12);
}

/** Whether a reference typed by a user (the end of the id as lists show it, or its start) points at this id. */
export function matchesId(id: string, reference: string): boolean {
  return reference.length > 0 && (id.startsWith(reference) || id.endsWith(reference));
}

// ---- --json: every list and show command has it (stack.ts uses these too) --------------

/** Adds `--json` to a list or show command; the action then receives `flags.json`. */
export function withJsonOption(command: Command): Command {
  return command.option("--json", "print JSON instead of text (for scripts; stable field names)");
}

/**
 * Prints a value as JSON. Dates become ISO strings, and the values JSON has no form for
 * keep their information: bigint as a decimal string, Map as an object (or entry list),
 * Set and typed arrays as arrays, undefined as null.
 */
export function printJson(value: unknown, options: { lines?: boolean } = {}): void {
  const text = JSON.stringify(value, jsonReplacer, options.lines ? undefined : 2);
  console.log(text ?? "null");
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value === undefined) return null;
  if (value instanceof Map) {
    const entries = [...value.entries()];
    return entries.every(([k]) => typeof k === "string") ? Object.fromEntries(entries) : entries;
  }
  if (value instanceof Set) return [...value];
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (typeof value === "function") return undefined;
  return value;
}

// ---- explicit exit ------------------------------------------------------------------------

let exitWhenDone = false;

/**
 * Commands that run pipeline code (`run`, `runs resume`, `demo`) end the process when they
 * are done: a step may leave a timer or socket open (a timed-out in-process step is
 * abandoned, not stopped), and that must not keep `weir run` alive after the run ended.
 */
export function exitWhenCommandEnds(): void {
  exitWhenDone = true;
}

export function shouldExitWhenCommandEnds(): boolean {
  return exitWhenDone;
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

/** Runs with more step runs than this are summarised per step (mapped runs grouped) instead of a row each. */
export const SUMMARY_ABOVE_STEPS = 50;

/**
 * One row per step (all invocations of it) and per mapped template (`process_file[…]`):
 * how many step runs, how many in each status, and from the first start to the last end.
 */
export function stepSummaryTable(steps: StepRunView[]): string {
  const groups = new Map<string, StepRunView[]>();
  for (const s of steps) {
    const label = s.mappingKey !== null ? `${s.stepName}[…]` : s.stepName;
    let group = groups.get(label);
    if (!group) groups.set(label, (group = []));
    group.push(s);
  }
  const rows = [...groups].map(([label, group]) => {
    const counts = new Map<string, number>();
    for (const s of group) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
    // Loops, not Math.min(...times): spreading 150,000 arguments overflows the stack.
    let first = Infinity;
    let last = -Infinity;
    let allEnded = true;
    for (const s of group) {
      if (s.startedAt) first = Math.min(first, s.startedAt.getTime());
      if (s.endedAt) last = Math.max(last, s.endedAt.getTime());
      else allEnded = false;
    }
    const start = first === Infinity ? null : new Date(first);
    const end = allEnded ? new Date(last) : null;
    return [`${label} ×${group.length}`, [...counts].map(([status, n]) => `${n} ${status}`).join(", "), span(start, end)];
  });
  return table(["steps", "status", "duration"], rows);
}

/** What `weir run`, `weir runs resume` and `weir orchestrate` print about a finished run. */
export async function printRunResult(run: PipelineRun, options: { idPrinted?: boolean } = {}): Promise<void> {
  console.log(
    details([
      ["run", options.idPrinted ? undefined : run.id],
      ["name", run.name],
      ["pipeline", `${run.pipelineName}${run.isDynamic ? " (dynamic)" : ""}`],
      ["status", `${runStatus(run)} in ${span(run.startedAt ?? run.createdAt, run.endedAt)}`],
    ]),
  );
  if (run.steps.length > SUMMARY_ABOVE_STEPS) {
    console.log(stepSummaryTable(run.steps));
    const failed = run.steps.filter((s) => s.status === "failed");
    if (failed.length > 0) {
      const names = failed.slice(0, 5).map((s) => s.name).join(", ");
      console.log(`failed: ${names}${failed.length > 5 ? `, … (${failed.length - 5} more)` : ""} (see weir runs show ${run.id})`);
    }
  } else if (run.steps.length > 0) {
    console.log(stepTable(run.steps));
  }
  if (run.status === "completed") {
    console.log(`output:\n${formatValue(await run.output())}`);
  } else if (run.error) {
    console.log(`error: ${run.error}`);
  }
}
