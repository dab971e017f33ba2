// Seed: Dagster's DynamicOutput example. files_in_directory yields one DynamicOutput per
// file of a folder (data/sample/ by default); map runs process_file once per file (as
// `process_file[<mapping key>]`) and collect gathers the results for summarize_directory.
// This is a static pipeline: the map node is in the compiled graph and expands at run time.
// Run it: weir run examples/process-directory.ts
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DynamicOutput, pipeline, step } from "weir";

interface FileResult {
  file: string;
  lines: number;
  words: number;
}

const SAMPLE_DIR = fileURLToPath(new URL("./data/sample", import.meta.url));

/** Mapping keys may only hold [A-Za-z0-9_]: "notes-2.txt" → "notes_2_txt". */
function clean(fileName: string): string {
  return fileName.replace(/[^A-Za-z0-9_]/g, "_");
}

export const filesInDirectory = step({ dynamicOutput: true }, async function* files_in_directory(path: string) {
  // Sorted, so the items (and the collected list) come in the same order on every run.
  for (const file of (await readdir(path)).sort()) {
    yield new DynamicOutput(join(path, file), { mappingKey: clean(file) });
  }
});

export const processFile = step(async function process_file(path: string): Promise<FileResult> {
  const text = await readFile(path, "utf8");
  return { file: basename(path), lines: text.split("\n").filter(Boolean).length, words: text.split(/\s+/).filter(Boolean).length };
});

export const summarizeDirectory = step(function summarize_directory(results: FileResult[]) {
  return {
    files: results.map((r) => r.file),
    lines: results.reduce((sum, r) => sum + r.lines, 0),
    words: results.reduce((sum, r) => sum + r.words, 0),
  };
});

export const processDirectory = pipeline(function process_directory({ path = SAMPLE_DIR }: { path?: string }) {
  const files = filesInDirectory(path);
  // Use map to invoke a step on each dynamic output…
  const fileResults = files.map(processFile);
  // …and collect to gather the results into a list.
  return summarizeDirectory(fileResults.collect());
});
