/**
 * Prints bench results (bench/results/*.json) as a Markdown table, for bench/README.md.
 *
 *   node --import tsx bench/table.ts bench/results/latest.json [more.json …]
 */
import { readFileSync } from "node:fs";
import type { BenchRow } from "./run.js";

interface Report {
  date: string;
  label: string | null;
  repeat?: number;
  homesIn?: string;
  fileSystem?: string | null;
  rows: BenchRow[];
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");
const wall = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const floor = (ms: number) => (ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(0)} µs`);

for (const file of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(file, "utf8")) as Report;
  const where = report.homesIn ? `, homes in ${report.homesIn} (${report.fileSystem?.split("\n")[0] ?? "?"})` : "";
  console.log(`${file}: ${report.date}${report.label ? `, ${report.label}` : ""}${where}, median of ${report.repeat ?? 1}\n`);
  console.log("| workload | N | step runs | wall | floor | steps/s | overhead/step | weir/floor | peak RSS |");
  console.log("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of report.rows) {
    console.log(
      `| ${r.workload} | ${int(r.n)} | ${int(r.stepRuns)} | ${wall(r.wallMs)} | ${floor(r.floorMs)} | ${int(r.stepsPerSec)} | ` +
        `${r.overheadUsPerStep.toFixed(0)} µs | ${int(r.ratio)}× | ${(r.maxRssKiB / 1024).toFixed(0)} MiB |`,
    );
  }
  console.log();
}
