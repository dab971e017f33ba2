/**
 * The PostgreSQL store's writes, each as a `PgWrite` whose `apply` runs a whole group of
 * alike writes with a few multi-row statements (`INSERT … SELECT FROM unnest($1::text[], …)`:
 * one parameter per column, whatever the number of rows).
 */
import type pg from "pg";
import {
  FINAL_STATUSES,
  insertedArtifactVersion,
  toArtifactVersionRecord,
  type ArtifactVersionInsert,
  type Patch,
  type ArtifactVersionRow,
} from "../sql/rows.js";
import type { ArtifactVersionRecord, StepOutputLink } from "../types.js";
import type { StepRunInsert } from "../sql/step-run-insert.js";
import { singleShape, type GroupApply, type PgWrite, type SeqSource } from "./batch.js";

type Db = pg.ClientBase;

/** `unnest($1::text[], $2::bigint[], …) WITH ORDINALITY AS alias(c1, c2, …, ord)` and its parameters. */
function unnest(alias: string, columns: [name: string, type: string][], rows: readonly unknown[][]) {
  const params = columns.map((_, c) => arrayParam(rows.map((row) => row[c] ?? null)));
  const arrays = columns.map(([, type], c) => `$${c + 1}::${type}[]`).join(", ");
  const names = columns.map(([name]) => name).join(", ");
  return { from: `unnest(${arrays}) WITH ORDINALITY AS ${alias}(${names}, ord)`, params };
}

/**
 * A backslash that JSON wrote before anything but `"` or `\`: an escape (`\n`, `\u0001`, a
 * lone surrogate's `\udc00`) that an array literal would read differently. (A `\\` followed
 * by a letter matches too: such a column just takes the slow path.)
 */
const NOT_PLAIN = /\\[^"\\]/;

/**
 * A column's values as the text of a PostgreSQL array literal (`{"a","b\\"c",null,1}`),
 * made by one `JSON.stringify`: for strings without control characters (or surrogates),
 * finite numbers, booleans and nulls, JSON's quoting is the array literal's
 * (`"` and `\` escaped by a backslash, `null` read as NULL). node-postgres builds the
 * same text by concatenation and two `replace` passes per element: for a column of 4,096
 * step tasks (~600 bytes of JSON each) 185 ms against 8 ms, and in a queue fan-out it
 * allocated a quarter of the engine's memory. JSON's own escapes are looked for once, in
 * its output. Other values are left to node-postgres.
 */
export function arrayParam(values: readonly unknown[]): unknown {
  for (const value of values) {
    if (value === null || typeof value === "boolean" || typeof value === "string") continue;
    if (typeof value === "number" && Number.isFinite(value)) continue;
    return values;
  }
  const json = JSON.stringify(values);
  if (NOT_PLAIN.test(json)) return values;
  return `{${json.slice(1, -1)}}`;
}

/** Inserts rows in order with one statement; `select` may compute columns from the unnested ones. */
async function insertRows(
  db: Db,
  table: string,
  columns: [name: string, type: string][],
  rows: readonly unknown[][],
  suffix = "",
): Promise<pg.QueryResult> {
  const { from, params } = unnest("t", columns, rows);
  const names = columns.map(([name]) => name).join(", ");
  return db.query(`INSERT INTO ${table} (${names}) SELECT ${names} FROM ${from} ORDER BY ord ${suffix}`, params);
}

/** A write of its own shape: applied alone, in its place among the others. */
export function single<T>(name: string, writes: string[], seqs: number, run: (db: Db, seq: SeqSource) => Promise<T>): PgWrite {
  return {
    shape: singleShape(name),
    apply: async (db, _group, seq) => [await run(db, seq)],
    writes,
    reads: [],
    seqs,
    args: undefined,
  };
}

// Step runs

// In the column order of StepRunInsert.values().
const STEP_RUN_COLUMNS: [string, string][] = [
  ["id", "text"],
  ["run_id", "text"],
  ["invocation_id", "text"],
  ["step_name", "text"],
  ["status", "text"],
  ["attempt", "int"],
  ["mapping_key", "text"],
  ["cache_key", "text"],
  ["original_step_run_id", "text"],
  ["position", "int"],
  ["upstream", "text"],
  ["parameters", "text"],
  ["created_at", "bigint"],
  ["started_at", "bigint"],
  ["ended_at", "bigint"],
  ["error", "text"],
  ["metadata", "text"],
  ["seq", "bigint"],
  ["configuration", "text"],
];

const CONFIGURATION_COLUMNS: [string, string][] = [
  ["id", "text"],
  ["snapshot_id", "text"],
  ["step_run_id", "text"],
  ["invocation_id", "text"],
  ["step_name", "text"],
  ["config", "text"],
];

interface CreateStepRunArgs {
  insert: StepRunInsert;
  /** Given the row's seq once applied: the value the write resolves to. */
  onSeq: (seq: number) => unknown;
}

const applyCreateStepRuns: GroupApply = async (db, group, seq) => {
  const creates = group.map((write) => write.args as CreateStepRunArgs);
  const rows = creates.map((c) => c.insert.values(seq.next()));
  await insertRows(db, "step_runs", STEP_RUN_COLUMNS, rows);
  return creates.map((c) => c.onSeq(c.insert.record.seq));
};

export function createStepRun(insert: StepRunInsert, onSeq: (seq: number) => unknown): PgWrite {
  const args: CreateStepRunArgs = { insert, onSeq };
  return { shape: "create step run", apply: applyCreateStepRuns, writes: [insert.id], reads: [insert.record.runId], seqs: 1, args };
}

export type ConfigurationInsert = ReturnType<typeof import("../sql/rows.js").stepConfigurationRow>;

const applyCreateConfigurations: GroupApply = async (db, group) => {
  const rows = group.flatMap((write) =>
    (write.args as ConfigurationInsert[]).map((c) => [c.id, c.snapshotId, c.stepRunId, c.invocationId, c.stepName, c.config]),
  );
  if (rows.length > 0) await insertRows(db, "step_configurations", CONFIGURATION_COLUMNS, rows);
  return group.map(() => undefined);
};

export function createStepConfigurations(rows: ConfigurationInsert[]): PgWrite {
  const owners = rows.map((row) => row.snapshotId ?? row.stepRunId ?? "");
  return { shape: "create configurations", apply: applyCreateConfigurations, writes: [], reads: owners, seqs: 0, args: rows };
}

// Patches (updateRun, updateStepRun, and the step-run part of completeStepRun)

/** Column types of the patchable columns, for the arrays a grouped UPDATE reads. */
const PATCH_TYPES: Record<string, string> = {
  status: "text",
  attempt: "int",
  cache_key: "text",
  original_step_run_id: "text",
  started_at: "bigint",
  ended_at: "bigint",
  error: "text",
  metadata: "text",
  upstream: "text",
  orchestrator_run_id: "text",
  output: "text",
  fingerprint: "text",
  heartbeat_at: "bigint",
  owner: "text",
  cancel_requested_at: "bigint",
};

/** Applies patches of one table and column set with one UPDATE; resolves the ids it changed. */
async function applyPatches(db: Db, patches: readonly Patch[], seq: SeqSource): Promise<Set<string>> {
  const { table, columns } = patches[0];
  const all: [string, string][] = [["id", "text"], ...columns.map((c): [string, string] => [c, PATCH_TYPES[c]]), ["seq", "bigint"], ["fence", "int"]];
  const rows = patches.map((p) => [p.id, ...p.values, seq.next(), p.fence ?? null]);
  const { from, params } = unnest("v", all, rows);
  const set = [...columns, "seq"].map((c) => `${c} = v.${c}`).join(", ");
  const fenced = table === "step_runs" ? ` AND (v.fence IS NULL OR (t.attempt <= v.fence AND t.status NOT IN (${FINAL_STATUSES})))` : "";
  const result = await db.query<{ id: string }>(
    `UPDATE ${table} AS t SET ${set} FROM ${from} WHERE t.id = v.id${fenced} RETURNING t.id`,
    params,
  );
  return new Set(result.rows.map((row) => row.id));
}

const applyUpdates: GroupApply = async (db, group, seq) => {
  const patches = group.map((write) => write.args as Patch);
  const changed = await applyPatches(db, patches, seq);
  for (const patch of patches) {
    if (!changed.has(patch.id)) throw new Error(`${patch.table}: no row with id ${patch.id}`);
  }
  return group.map(() => undefined);
};

export function update(patch: Patch): PgWrite {
  return {
    shape: `update ${patch.table} ${patch.columns.join(",")}`,
    apply: applyUpdates,
    writes: [patch.id],
    reads: [],
    seqs: 1,
    args: patch,
  };
}

// Artifact versions

/**
 * Inserts versions with the next numbers of their names: one statement takes the numbers
 * (registering new names), one inserts the rows. Taking a number is an upsert of the
 * name's counter, so concurrent writers never get the same one.
 */
export async function insertArtifactVersions(db: Db, rows: readonly ArtifactVersionInsert[]): Promise<ArtifactVersionRecord[]> {
  if (rows.length === 0) return [];
  const counts = new Map<string, { count: number; createdAt: number }>();
  for (const row of rows) {
    const entry = counts.get(row.artifactName);
    if (entry) entry.count++;
    else counts.set(row.artifactName, { count: 1, createdAt: row.createdAt });
  }
  // Sorted, so that two writers lock the names in the same order.
  const names = [...counts.keys()].sort();
  const taken = await insertRows(
    db,
    "artifacts",
    [["name", "text"], ["created_at", "bigint"], ["latest_version", "int"]],
    names.map((name) => [name, counts.get(name)!.createdAt, counts.get(name)!.count]),
    `ON CONFLICT (name) DO UPDATE SET latest_version = artifacts.latest_version + excluded.latest_version
     RETURNING name, latest_version`,
  );
  const next = new Map<string, { version: number }>();
  for (const row of taken.rows as { name: string; latest_version: number }[]) {
    next.set(row.name, { version: row.latest_version - counts.get(row.name)!.count });
  }
  const records: ArtifactVersionRecord[] = [];
  const values = rows.map((row) => {
    const artifact = next.get(row.artifactName)!;
    const version = ++artifact.version;
    records.push(insertedArtifactVersion(row, version));
    return [
      row.id, row.artifactName, version, row.uri, row.dataType, row.materializer, row.contentHash, row.size, row.metadata,
      row.createdAt, row.artifactStoreId,
    ];
  });
  await insertRows(
    db,
    "artifact_versions",
    [
      ["id", "text"],
      ["artifact_name", "text"],
      ["version", "int"],
      ["uri", "text"],
      ["data_type", "text"],
      ["materializer", "text"],
      ["content_hash", "text"],
      ["size", "bigint"],
      ["metadata", "text"],
      ["created_at", "bigint"],
      ["artifact_store_id", "text"],
    ],
    values,
  );
  return records;
}

const applyCreateArtifactVersions: GroupApply = (db, group) =>
  insertArtifactVersions(db, group.map((write) => write.args as ArtifactVersionInsert));

export function createArtifactVersion(row: ArtifactVersionInsert): PgWrite {
  return { shape: "create artifact version", apply: applyCreateArtifactVersions, writes: [row.id], reads: [], seqs: 0, args: row };
}

const OUTPUT_COLUMNS: [string, string][] = [
  ["step_run_id", "text"],
  ["artifact_version_id", "text"],
  ["output_name", "text"],
  ["mapping_key", "text"],
  ["position", "int"],
];

function insertOutputs(db: Db, links: readonly StepOutputLink[]): Promise<unknown> {
  if (links.length === 0) return Promise.resolve();
  const rows = links.map((l) => [l.stepRunId, l.artifactVersionId, l.outputName, l.mappingKey, l.position]);
  return insertRows(db, "step_run_outputs", OUTPUT_COLUMNS, rows);
}

// Completions

export interface Completion {
  patch: Patch;
  artifacts: ArtifactVersionInsert[];
  outputs: StepOutputLink[];
}

const applyCompletions: GroupApply = async (db, group, seq) => {
  const completions = group.map((write) => write.args as Completion);
  const changed = await applyPatches(db, completions.map((c) => c.patch), seq);
  const unchanged = completions.filter((c) => !changed.has(c.patch.id));
  if (unchanged.length > 0) {
    // Fenced completions of existing step runs are ignored; anything else names a missing row.
    const ids = unchanged.map((c) => c.patch.id);
    const found = await db.query<{ id: string }>(`SELECT id FROM step_runs WHERE id = ANY($1::text[])`, [ids]);
    const existing = new Set(found.rows.map((row) => row.id));
    for (const c of unchanged) {
      if (c.patch.fence === undefined || !existing.has(c.patch.id)) throw new Error(`step_runs: no row with id ${c.patch.id}`);
    }
  }
  const applied = completions.filter((c) => changed.has(c.patch.id));
  await insertArtifactVersions(db, applied.flatMap((c) => c.artifacts));
  await insertOutputs(db, applied.flatMap((c) => c.outputs));
  return completions.map((c) => changed.has(c.patch.id));
};

export function complete(completion: Completion): PgWrite {
  const created = new Set(completion.artifacts.map((a) => a.id));
  return {
    shape: `complete ${completion.patch.columns.join(",")}`,
    apply: applyCompletions,
    writes: [completion.patch.id, `outputs:${completion.patch.id}`, ...created],
    reads: completion.outputs.map((o) => o.artifactVersionId).filter((id) => !created.has(id)),
    seqs: 1,
    args: completion,
  };
}

export interface StreamedOutput {
  artifact: ArtifactVersionInsert | null;
  link: StepOutputLink;
}

const applyStreamedOutputs: GroupApply = async (db, group) => {
  const outputs = group.map((write) => write.args as StreamedOutput);
  const created = await insertArtifactVersions(db, outputs.flatMap((o) => (o.artifact ? [o.artifact] : [])));
  const linkedIds = outputs.filter((o) => !o.artifact).map((o) => o.link.artifactVersionId);
  const linked = new Map<string, ArtifactVersionRecord>();
  if (linkedIds.length > 0) {
    const found = await db.query<ArtifactVersionRow>(
      `SELECT v.* FROM artifact_versions v WHERE v.id = ANY($1::text[])`,
      [linkedIds],
    );
    for (const row of found.rows) linked.set(row.id, toArtifactVersionRecord(row));
    for (const id of linkedIds) if (!linked.has(id)) throw new Error(`addStepOutput: unknown artifact version ${id}`);
  }
  await insertOutputs(db, outputs.map((o) => o.link));
  let next = 0;
  return outputs.map((o) => (o.artifact ? created[next++] : linked.get(o.link.artifactVersionId)));
};

export function addStepOutput(output: StreamedOutput): PgWrite {
  return {
    shape: "add step output",
    apply: applyStreamedOutputs,
    writes: [`outputs:${output.link.stepRunId}`, ...(output.artifact ? [output.artifact.id] : [])],
    reads: [output.link.stepRunId, ...(output.artifact ? [] : [output.link.artifactVersionId])],
    seqs: 0,
    args: output,
  };
}

// Inputs, tasks, logs: upserts keep the last value per key, as applying them one by one would.

/** The rows, keeping only the last one of each key (a multi-row upsert may touch a row once). */
function lastPerKey<T>(rows: T[], key: (row: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) {
    const k = key(row);
    byKey.delete(k);
    byKey.set(k, row);
  }
  return [...byKey.values()];
}

interface InputRow {
  stepRunId: string;
  artifactVersionId: string;
  inputName: string;
}

const applyInputs: GroupApply = async (db, group) => {
  const rows = lastPerKey(group.flatMap((write) => write.args as InputRow[]), (r) => `${r.stepRunId}\u0000${r.inputName}`);
  await insertRows(
    db,
    "step_run_inputs",
    [["step_run_id", "text"], ["artifact_version_id", "text"], ["input_name", "text"]],
    rows.map((r) => [r.stepRunId, r.artifactVersionId, r.inputName]),
    `ON CONFLICT (step_run_id, input_name) DO UPDATE SET artifact_version_id = excluded.artifact_version_id`,
  );
  return group.map(() => undefined);
};

export function addStepInputs(rows: InputRow[]): PgWrite {
  return {
    shape: "add step inputs",
    apply: applyInputs,
    writes: [],
    reads: rows.flatMap((r) => [r.stepRunId, r.artifactVersionId]),
    seqs: 0,
    args: rows,
  };
}

interface TaskRow {
  stepRunId: string;
  attempt: number;
  task: string;
}

const applyTasks: GroupApply = async (db, group) => {
  const rows = lastPerKey(group.map((write) => write.args as TaskRow), (r) => r.stepRunId);
  await insertRows(
    db,
    "step_run_tasks",
    [["step_run_id", "text"], ["attempt", "int"], ["task", "text"]],
    rows.map((r) => [r.stepRunId, r.attempt, r.task]),
    `ON CONFLICT (step_run_id) DO UPDATE SET attempt = excluded.attempt, task = excluded.task`,
  );
  return group.map(() => undefined);
};

export function saveStepTask(row: TaskRow): PgWrite {
  return { shape: "save step task", apply: applyTasks, writes: [], reads: [row.stepRunId], seqs: 0, args: row };
}

interface LogInsert {
  runId: string;
  stepRunId: string | null;
  stream: string;
  message: string;
  at: number;
}

const applyLogs: GroupApply = async (db, group) => {
  const rows = group.flatMap((write) => (write.args as LogInsert[]).map((l) => [l.runId, l.stepRunId, l.stream, l.message, l.at]));
  await insertRows(
    db,
    "logs",
    [["run_id", "text"], ["step_run_id", "text"], ["stream", "text"], ["message", "text"], ["at", "bigint"]],
    rows,
  );
  return group.map(() => undefined);
};

export function appendLogs(lines: LogInsert[]): PgWrite {
  const reads = new Set<string>();
  for (const line of lines) {
    reads.add(line.runId);
    if (line.stepRunId) reads.add(line.stepRunId);
  }
  return { shape: "append logs", apply: applyLogs, writes: [], reads: [...reads], seqs: 0, args: lines };
}
