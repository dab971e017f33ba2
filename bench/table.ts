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
const overhead = (us: number) => (us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : `${us.toFixed(0)} µs`);
const floor = (ms: number) => (ms === 0 ? "—" : ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(0)} µs`);

for (const file of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(file, "utf8")) as Report;
  const where = report.homesIn ? `, homes in ${report.homesIn} (${report.fileSystem?.split("\n")[0] ?? "?"})` : "";
  console.log(`${file}: ${report.date}${report.label ? `, ${report.label}` : ""}${where}, median of ${report.repeat ?? 1}\n`);
  console.log("| workload | store | N | step runs | wall | floor | steps/s | overhead/step | weir/floor | 1 insert/step | weir/insert | peak RSS |");
  console.log("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of report.rows) {
    // Rows written before the store column existed are SQLite + local files.
    const how = [r.workers ? `${r.workers} workers` : "", r.cold ? "cold" : "", r.cache ? "cache on" : ""].filter(Boolean);
    const name = how.length > 0 ? `${r.workload} (${how.join(", ")})` : r.workload;
    const stores = { sqlite: "SQLite", postgres: "PostgreSQL", "postgres+s3": "PostgreSQL" };
    const artifacts = r.store === "postgres+s3" ? "S3" : "local";
    const runner = r.workers ? ", queue" : r.orchestrator && r.orchestrator !== "local" ? `, ${r.orchestrator}` : "";
    const store = `${stores[r.store ?? "sqlite"]} + ${artifacts}${runner}`;
    // A floor too small to time gives a ratio that says nothing (a process per step is not a loop).
    const ratio = r.ratio && r.floorMs >= 0.1 ? `${int(r.ratio)}×` : "—";
    console.log(
      `| ${name} | ${store} | ${int(r.n)} | ${int(r.stepRuns)} | ${wall(r.wallMs)} | ${floor(r.floorMs)} | ${int(r.stepsPerSec)} | ` +
        `${overhead(r.overheadUsPerStep)} | ${ratio} | ` +
        `${r.insertFloorMs ? wall(r.insertFloorMs) : "—"} | ${r.insertFloorMs && !runner ? `${(r.wallMs / r.insertFloorMs).toFixed(1)}×` : "—"} | ${(r.maxRssKiB / 1024).toFixed(0)} MiB |`,
    );
  }
  console.log();
}
