import type { AttemptChannel, AttemptResult, ProducedArtifact, SerializedError } from "../engine/launcher.js";
import { serializeError, withoutValue } from "../engine/launcher.js";

/**
 * The channel of `weir step` run on its own (no IPC): every report is one line on stdout,
 * `@weir:attempt {json}`, between the step's own output. Any launcher that can read a
 * process's output (a shell, a queue worker, `kubectl logs`) follows the attempt with
 * `parseReportLine`. The engine that launched the attempt records what it reads: this
 * process writes artifacts, never run or step-run rows.
 */
export const REPORT_MARKER = "@weir:attempt ";

export type AttemptReport =
  | { type: "started" }
  | { type: "item"; item: ProducedArtifact }
  | { type: "log"; message: string }
  | { type: "result"; result: AttemptResult }
  | { type: "error"; error: SerializedError; uncaught?: boolean };

export class ReportLineChannel implements AttemptChannel {
  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(line)) {}

  started(): void {
    this.report({ type: "started" });
  }

  // One-way: the item is reported, and recorded whenever the reader gets to it.
  async item(produced: ProducedArtifact): Promise<void> {
    this.report({ type: "item", item: withoutValue(produced) });
  }

  // The step's stdout and stderr are the process's own; only context.log lines need a report.
  log(stream: "stdout" | "stderr" | "log", message: string): void {
    if (stream === "log") this.report({ type: "log", message });
  }

  async result(result: AttemptResult): Promise<void> {
    this.report({ type: "result", result: { metadata: result.metadata, ...(result.output ? { output: withoutValue(result.output) } : {}) } });
  }

  async error(error: unknown, options: { uncaught?: boolean } = {}): Promise<void> {
    this.report({ type: "error", error: serializeError(error), ...(options.uncaught ? { uncaught: true } : {}) });
  }

  private report(report: AttemptReport): void {
    this.write(`${REPORT_MARKER}${JSON.stringify(report)}\n`);
  }
}

/**
 * One line of a `weir step` process's stdout: the step's own text, a report, or both (a
 * report that follows output without a newline). The marker is searched anywhere in the line.
 */
export function parseReportLine(line: string): { text?: string; report?: AttemptReport } {
  const at = line.indexOf(REPORT_MARKER);
  if (at === -1) return { text: line };
  const report = JSON.parse(line.slice(at + REPORT_MARKER.length)) as AttemptReport;
  return at === 0 ? { report } : { text: line.slice(0, at), report };
}
