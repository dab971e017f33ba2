import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isPipeline, type Pipeline } from "../authoring/pipeline.js";
import { errorMessage } from "../authoring/errors.js";
import { Client } from "../client/client.js";
import { openMetadataStore } from "../config/home.js";
import { CliError, matchesId } from "./output.js";

/** How RUN arguments are described in help texts. */
export const RUN_REFERENCE = "run name, run id, or a unique start or end of the id (lists show the end)";

/** What a RUN argument names: a run name, an exact id, or a unique start or end of an id. */
export async function resolveRunId(ref: string): Promise<string> {
  // Through a server (WEIR_SERVER_URL), the server resolves names and id ends the same way.
  const client = new Client();
  if (client.isRemote) return (await client.getRun(ref)).id;
  const store = await openMetadataStore();
  if (await store.getRun(ref)) return ref;
  // The store finds them (the name is indexed): no reading every run of a large store.
  const byName = ref.length > 0 ? await store.findRuns({ name: ref }) : [];
  let matches = byName;
  if (byName.length === 0 && ref.length > 0) {
    const byId = new Map([...(await store.findRuns({ idPrefix: ref })), ...(await store.findRuns({ idSuffix: ref }))].map((r) => [r.id, r]));
    matches = [...byId.values()].filter((r) => matchesId(r.id, ref));
  }
  return unique("run", ref, matches, (r) => `${r.id} (${r.name})`, "weir runs list");
}

/**
 * What an artifact ID argument names: an exact id, a unique start or end of an id, or an
 * artifact name (`pipeline::step::output`, newest version) with an optional `@VERSION`.
 */
export async function resolveArtifactId(ref: string): Promise<string> {
  const client = new Client();
  if (client.isRemote) return (await client.getArtifactVersion(ref)).id;
  const store = await openMetadataStore();
  if (await store.getArtifactVersion(ref)) return ref;
  const named = /^(.+?)(?:@(\d+))?$/.exec(ref)!;
  const ofName = await store.listArtifactVersions({ artifactName: named[1] });
  if (ofName.length > 0) {
    const version = named[2] === undefined ? ofName[0] : ofName.find((v) => v.version === Number(named[2]));
    if (!version) throw new CliError(`artifact "${named[1]}" has no version ${named[2]} (it has 1 to ${ofName[0].version})`);
    return version.id;
  }
  const versions = await store.listArtifactVersions();
  const matches = versions.filter((v) => matchesId(v.id, ref));
  return unique("artifact version", ref, matches, (v) => `${v.id} (${v.artifactName} v${v.version})`, "weir artifacts list");
}

function unique<T extends { id: string }>(kind: string, ref: string, found: T[], describe: (item: T) => string, listCommand: string): string {
  if (found.length === 1) return found[0].id;
  if (found.length === 0) throw new CliError(`no ${kind} matches "${ref}" (see ${listCommand})`);
  const shown = found.slice(0, 5).map(describe).join(", ");
  throw new CliError(
    `"${ref}" matches ${found.length} ${kind}s: ${shown}${found.length > 5 ? ", …" : ""}; give more characters of the id`,
  );
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
    throw new CliError(`cannot load ${file}: ${loadProblem(error, path)}`, { cause: error });
  }
  const pipelines = new Map<string, AnyPipeline>();
  for (const value of Object.values(module)) {
    if (isPipeline(value)) pipelines.set(value.pipelineName, value);
  }
  return pipelines;
}

/**
 * Why a pipeline file could not be imported, on one line. A syntax error keeps where it is,
 * as `file:line:column: message` (columns counted from 1, as editors do): tsx reports a
 * TypeScript one as esbuild's "Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: …"
 * (esbuild counts columns from 0); Node's own SyntaxError (plain .js/.mjs) carries no place,
 * so `node --check` is asked for it.
 */
export function loadProblem(error: unknown, file: string): string {
  const message = errorMessage(error);
  const transform = /^(.+):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (transform) return `${transform[1]}:${transform[2]}:${Number(transform[3]) + 1}: ${transform[4]}`;
  if (error instanceof SyntaxError) {
    const check = spawnSync(process.execPath, ["--check", file], { encoding: "utf8", timeout: 10_000 });
    // "<file>:<line>\n<source line>\n<spaces>^\n\nSyntaxError: …"
    const place = /^(.+):(\d+)\n.*\n( *)\^/m.exec(check.stderr ?? "");
    if (place) return `${place[1]}:${place[2]}:${place[3].length + 1}: ${message}`;
  }
  return message;
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
