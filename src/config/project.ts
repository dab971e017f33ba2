import { existsSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";

/**
 * The project root code is located against: `WEIR_PROJECT_ROOT`, else the current
 * directory. Snapshots and step tasks record modules relative to it, so a worker, a pod or
 * a checkout elsewhere with the same files (and WEIR_PROJECT_ROOT pointing at them) finds
 * the same code; an absolute path read off the submitting machine would not exist there.
 */
export function projectRoot(): string {
  return resolve(process.env.WEIR_PROJECT_ROOT || ".");
}

/** A module path as recorded: relative to the project root when inside it, else absolute as given. */
export function recordedModulePath(file: string | undefined, root = projectRoot()): string | undefined {
  if (!file) return file;
  const path = relative(root, file);
  if (path === "" || path === ".." || path.startsWith(`..${sep}`) || isAbsolute(path)) return file;
  return path.split(sep).join("/");
}

/**
 * A recorded module path as a file here. Absolute (older) records stay as they are. A
 * relative one resolves against WEIR_PROJECT_ROOT when it is set; otherwise against the
 * current directory when the file is there, else against the root it was recorded under
 * (`recordedRoot`), so the machine that submitted a run finds its code from any folder.
 */
export function resolveModulePath(recorded: string, recordedRoot?: string): string {
  if (isAbsolute(recorded)) return recorded;
  if (process.env.WEIR_PROJECT_ROOT || !recordedRoot) return resolve(projectRoot(), recorded);
  const here = resolve(projectRoot(), recorded);
  return existsSync(here) ? here : resolve(recordedRoot, recorded);
}
