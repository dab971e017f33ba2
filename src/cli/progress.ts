import { openMetadataStore } from "../config/home.js";
import type { RunRecord, StepRunRecord } from "../stores/metadata/types.js";
import { formatDuration } from "./output.js";

const REFRESH_MS = 200;
const CLEAR_LINE = "\r\x1b[2K";

// Taken before any step runs: the engine later wraps process.stdout.write to capture step
// output, and the progress line must not end up in a step's logs.
const rawWrite = process.stdout.write.bind(process.stdout);
let lineShown = false;
let clearOnWriteInstalled = false;

/** The progress line's text for a run and its step runs so far. */
export function progressLine(run: Pick<RunRecord, "pipelineName" | "isDynamic">, steps: StepRunRecord[], elapsedMs: number): string {
  const count = (...statuses: StepRunRecord["status"][]) => steps.filter((s) => statuses.includes(s.status)).length;
  const parts = [
    `${run.pipelineName} ${formatDuration(elapsedMs)}`,
    `${count("completed", "cached")} completed`,
    `${count("running")} running`,
    `${count("failed")} failed`,
    `${count("skipped")} skipped`,
  ];
  if (run.isDynamic) parts.push(`${steps.length} discovered`);
  return parts.join(" · ");
}

/**
 * While a run started by this process goes on, redraws one status line in the terminal
 * (never when stdout is not a terminal), read from the metadata store. Returns a function
 * that stops it.
 */
export function showProgress(runId: string): () => void {
  if (!process.stdout.isTTY) return () => undefined;
  installClearOnWrite();
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const store = await openMetadataStore();
      const run = await store.getRun(runId);
      if (!run) return;
      const line = progressLine(run, await store.listStepRuns(run.id), Date.now() - (run.startedAt ?? run.createdAt));
      if (!timer) return; // stopped while reading
      rawWrite(`${CLEAR_LINE}${line.slice(0, Math.max(20, (process.stdout.columns || 80) - 1))}`);
      lineShown = true;
    } finally {
      busy = false;
    }
  };
  let timer: NodeJS.Timeout | undefined = setInterval(() => void tick().catch(() => undefined), REFRESH_MS);
  return () => {
    clearInterval(timer);
    timer = undefined;
    clearLine();
  };
}

function clearLine(): void {
  if (lineShown) rawWrite(CLEAR_LINE);
  lineShown = false;
}

/** Other output (a step's console.log) first clears the progress line, which the next tick redraws. */
function installClearOnWrite(): void {
  if (clearOnWriteInstalled) return;
  clearOnWriteInstalled = true;
  const previous = process.stdout.write;
  process.stdout.write = function (...args: unknown[]) {
    clearLine();
    return (previous as (...a: unknown[]) => boolean).apply(process.stdout, args);
  } as typeof process.stdout.write;
}
