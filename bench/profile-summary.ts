/**
 * Top functions by self time in a V8 CPU profile (`node --cpu-prof`).
 *
 *   node --import tsx bench/profile-summary.ts PROFILE.cpuprofile [--top 25] [--total] [--grep TEXT]
 *
 * --total sorts by total (inclusive) time instead; --grep keeps functions whose name or
 * location contains TEXT. A folder argument means its biggest .cpuprofile (the main thread's).
 *
 * Self time of a node = its sample count × the mean sampling interval; nodes of the same
 * function (same name, file, line, column) are summed. Total time also counts callees
 * (a function on the stack several times is counted once per sample).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  location: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
}

function location(frame: ProfileNode["callFrame"]): string {
  if (!frame.url) return "(native)";
  let file = frame.url;
  if (file.startsWith("file://")) file = relative(process.cwd(), fileURLToPath(file));
  // V8 line and column numbers are 0-based.
  return `${file}:${frame.lineNumber + 1}`;
}

export function summarize(profile: Profile): { functions: FunctionTime[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Time per sample: the delta to the next sample (the last one gets the mean).
  const totalUs = profile.endTime - profile.startTime;
  const meanUs = totalUs / Math.max(1, profile.samples.length);
  const sampleUs = profile.samples.map((_, i) => profile.timeDeltas[i + 1] ?? meanUs);

  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName}\u0000${n.callFrame.url}\u0000${n.callFrame.lineNumber}\u0000${n.callFrame.columnNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, ProfileNode["callFrame"]>();
  profile.samples.forEach((id, i) => {
    const us = sampleUs[i];
    const leaf = byId.get(id);
    if (!leaf) return;
    const leafKey = key(leaf);
    self.set(leafKey, (self.get(leafKey) ?? 0) + us);
    frames.set(leafKey, leaf.callFrame);
    const seen = new Set<string>();
    for (let node: ProfileNode | undefined = leaf; node; node = byId.get(parent.get(node.id) ?? -1)) {
      const k = key(node);
      if (seen.has(k)) continue;
      seen.add(k);
      frames.set(k, node.callFrame);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  });

  const functions = [...total.entries()]
    .map(([k, totalOf]) => {
      const frame = frames.get(k)!;
      const us = self.get(k) ?? 0;
      return {
        name: frame.functionName || "(anonymous)",
        location: location(frame),
        selfMs: us / 1000,
        totalMs: totalOf / 1000,
        selfPct: (100 * us) / totalUs,
      };
    })
    .sort((a, b) => b.selfMs - a.selfMs);
  return { functions, totalMs: totalUs / 1000 };
}

/** A .cpuprofile file, or the biggest one in a folder (V8 writes one per thread). */
function profileFile(arg: string): string {
  if (!statSync(arg).isDirectory()) return arg;
  const files = readdirSync(arg)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(arg, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${arg}`);
  return files[0];
}

function main(): void {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const flag = (name: string): boolean => {
    const i = args.indexOf(name);
    if (i >= 0) args.splice(i, 1);
    return i >= 0;
  };
  const top = Number(option("--top") ?? 25);
  const grep = option("--grep");
  const byTotal = flag("--total");
  if (args.length === 0) {
    console.error("usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile|DIR [--top 25] [--total] [--grep TEXT]");
    process.exit(2);
  }
  for (const arg of args) {
    const file = profileFile(arg);
    const summary = summarize(JSON.parse(readFileSync(file, "utf8")) as Profile);
    const { totalMs } = summary;
    let { functions } = summary;
    if (grep) functions = functions.filter((f) => f.name.includes(grep) || f.location.includes(grep));
    if (byTotal) functions = [...functions].sort((a, b) => b.totalMs - a.totalMs);
    console.log(`${file}: ${(totalMs / 1000).toFixed(2)} s profiled, top ${top} by ${byTotal ? "total" : "self"} time`);
    console.log(`${"self ms".padStart(9)} ${"self %".padStart(6)} ${"total ms".padStart(9)}  function  location`);
    for (const f of functions.slice(0, top)) {
      console.log(
        `${f.selfMs.toFixed(1).padStart(9)} ${f.selfPct.toFixed(1).padStart(6)} ${f.totalMs.toFixed(1).padStart(9)}  ${f.name}  ${f.location}`,
      );
    }
    console.log();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
