import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isPipeline, type Pipeline } from "../authoring/pipeline.js";
import { errorMessage } from "../authoring/errors.js";
import { openMetadataStore } from "../config/home.js";
import { CliError, matchesId } from "./output.js";

/** What a RUN argument names: an exact id, a run name, or a unique id prefix. */
export async function resolveRunId(ref: string): Promise<string> {
  const store = await openMetadataStore();
  if (await store.getRun(ref)) return ref;
  const runs = await store.listRuns();
  const byName = runs.filter((r) => r.name === ref);
  const matches = byName.length > 0 ? byName : runs.filter((r) => matchesId(r.id, ref));
  return unique("run", ref, matches.map((r) => r.id), "weir runs list");
}

/** What an artifact ID argument names: an exact id or a unique id prefix. */
export async function resolveArtifactId(ref: string): Promise<string> {
  const store = await openMetadataStore();
  if (await store.getArtifactVersion(ref)) return ref;
  const versions = await store.listArtifactVersions();
  return unique("artifact version", ref, versions.filter((v) => matchesId(v.id, ref)).map((v) => v.id), "weir artifacts list");
}

function unique(kind: string, ref: string, ids: string[], listCommand: string): string {
  if (ids.length === 1) return ids[0];
  if (ids.length === 0) throw new CliError(`no ${kind} matches "${ref}" (see ${listCommand})`);
  throw new CliError(`"${ref}" matches ${ids.length} ${kind}s (${ids.slice(0, 3).join(", ")}, …); give more of the id`);
}

export type AnyPipeline = Pipeline<any, any>;

/** The pipelines a file exports, by pipeline name (the file may be `.ts`: bin/weir.js registers tsx). */
export async function importPipelines(file: string): Promise<Map<string, AnyPipeline>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`no such file: ${file}`);
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new CliError(`cannot load ${file}: ${errorMessage(error)}`, { cause: error });
  }
  const pipelines = new Map<string, AnyPipeline>();
  for (const value of Object.values(module)) {
    if (isPipeline(value)) pipelines.set(value.pipelineName, value);
  }
  return pipelines;
}

/** The pipeline `weir run` should run: the only one, or the one `--pipeline` names. */
export function pickPipeline(file: string, pipelines: Map<string, AnyPipeline>, name: string | undefined): AnyPipeline {
  const names = [...pipelines.keys()].join(", ");
  if (pipelines.size === 0) throw new CliError(`${file} exports no pipeline (export one made with pipeline(…))`);
  if (name !== undefined) {
    const found = pipelines.get(name);
    if (!found) throw new CliError(`${file} has no pipeline "${name}" (it has: ${names})`);
    return found;
  }
  if (pipelines.size > 1) throw new CliError(`${file} exports several pipelines (${names}); choose one with --pipeline NAME`);
  return [...pipelines.values()][0];
}
