// What a step process loads of weir before its step's module: its boot is paid once per
// attempt (local_process forks a process per attempt), so weir's package entry must not
// pull in what only a submitting or orchestrating process uses.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

/** The dist/ modules a fresh Node process loads to import `entries` (a module hook lists them). */
function modulesLoadedBy(...entries: string[]): Promise<string[]> {
  const lister = `
    import { register } from "node:module";
    const channel = new MessageChannel();
    register("data:text/javascript," + encodeURIComponent(
      "let port; export function initialize(data) { port = data.port; }" +
      "export async function load(url, context, next) { port.postMessage(url); return next(url, context); }"
    ), { data: { port: channel.port2 }, transferList: [channel.port2] });
    const urls = [];
    channel.port1.on("message", (url) => urls.push(url));
    for (const entry of ${JSON.stringify(entries.map((entry) => pathToFileURL(entry).href))}) await import(entry);
    setTimeout(() => { console.log(JSON.stringify(urls)); channel.port1.close(); }, 200);
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", lister], (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve((JSON.parse(stdout) as string[]).filter((url) => url.includes("/dist/")).map((url) => url.slice(url.indexOf("/dist/") + 6)));
    });
  });
}

describe.runIf(existsSync(join(ROOT, "dist/index.js")))("a step process's boot", () => {
  it("loads weir's package entry and step entry point without the engine, submission or schedules", async () => {
    // What a process forked ahead loads before it reports ready: the step entry point and the package entry.
    const loaded = await modulesLoadedBy(join(ROOT, "dist/entrypoints/step.js"), join(ROOT, "dist/index.js"));
    expect(loaded).toContain("index.js");
    expect(loaded).toContain("engine/executor.js");
    for (const unused of ["api/run.js", "engine/orchestrate.js", "engine/run-engine.js", "engine/submit.js", "schedules/create.js"]) {
      expect(loaded, unused).not.toContain(unused);
    }
  });
});
