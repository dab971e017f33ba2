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

/** A recorded module path as a file here: relative ones against the project root; absolute (older) records as they are. */
export function resolveModulePath(recorded: string, root = projectRoot()): string {
  return isAbsolute(recorded) ? recorded : resolve(root, recorded);
}
