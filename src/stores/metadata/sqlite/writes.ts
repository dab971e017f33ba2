/**
 * The SQLite store's writes as data (`SqliteOp`), and what applies them (`SqliteWriteApplier`):
 * a batch of ops in one IMMEDIATE transaction on a connection. The store builds the ops on the
 * calling thread and applies a batch either on its own connection or, for runs that write a
 * lot, on its writer thread (writer-thread.ts), which keeps a connection of its own: the ops
 * are plain values so that they can be posted to it, and so are their outcomes.
 */
import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import { timeOrderedId } from "../../../ids.js";
import {
  FINAL_STATUSES,
  fromJson,
  insertedArtifactVersion,
  outputArtifactIds,
  toArtifactVersionRecord,
  toComponentRecord,
  type ArtifactVersionInsert,
  type ArtifactVersionRow,
  type MemberRow,
  type RunRow,
  type StackRow,
} from "../sql/rows.js";
import type { ArtifactVersionRecord, StackRecord, StepOutputLink } from "../types.js";
import type { Outcome } from "../write-batcher.js";
import { storeDeletedError, storeFileError } from "./file-errors.js";
import { prepareStatements, type Statements } from "./statements.js";

export const ACTIVE_STACK_KEY = "active_stack";

/** A fenced or plain UPDATE of some columns of one row (a step run or a run). */
export interface PatchOp {
  op: "patch";
  table: "step_runs" | "pipeline_runs";
  id: string;
  columns: string[];
  values: unknown[];
  /** Step runs: apply only while no later attempt is recorded and the step run is not final; else the outcome is false. */
  fence?: number;
}

/** One write, as plain values. Each kind's outcome value is said next to it. */
export type SqliteOp =
  /** → the pipeline's id */
  | { op: "snapshot"; id: string; pipelineName: string; isDynamic: number; parameters: string; source: string; spec: string; createdAt: number }
  | { op: "configurations"; rows: (string | null)[][] }
  /** → the run's seq */
  | { op: "run"; pipelineName: string; row: Record<string, unknown> }
  /** → true; false when fenced */
  | PatchOp
  /** → whether the lease was taken */
  | { op: "claimRun"; runId: string; owner: string; now: number; staleBefore: number }
  /** → the deleted versions' URIs */
  | { op: "deleteRun"; runId: string }
  /** A step run's row in the column order of StepRunInsert.values(), its seq left to the applier. → the seq */
  | { op: "stepRun"; values: unknown[] }
  /** A write merged into a step run's INSERT in the same batch: fails as an UPDATE of a missing row would if that INSERT failed. */
  | { op: "stepRunExists"; id: string }
  /**
   * A completion: the step-run part is `patch` (fenced), or was merged into the INSERT of
   * the same batch (`merged`: whether its fence held). → whether it applied
   */
  | { op: "complete"; stepRunId: string; patch?: PatchOp; merged?: boolean; artifacts: ArtifactVersionInsert[]; outputs: Omit<StepOutputLink, "stepRunId">[] }
  /** → the version record */
  | { op: "output"; artifact: ArtifactVersionInsert | null; link: StepOutputLink }
  | { op: "resetStepRun"; id: string }
  /** → the version record */
  | { op: "artifactVersion"; row: ArtifactVersionInsert }
  | { op: "inputs"; rows: [string, string, string][] }
  | { op: "task"; stepRunId: string; attempt: number; task: string }
  | { op: "logs"; rows: { runId: string; stepRunId: string | null; stream: string; message: string; at: number }[] }
  /** → the stack record */
  | { op: "saveStack"; name: string; createdAt: number; components: { type: string; name: string; flavor: string; config: string }[] }
  /** → whether there was one */
  | { op: "deleteStack"; name: string }
  | { op: "setActiveStack"; name: string };

/** Ops that may run more than one statement: undoing one that failed needs a SAVEPOINT. */
const MULTI_STATEMENT = new Set<SqliteOp["op"]>(["snapshot", "configurations", "run", "patch", "claimRun", "deleteRun", "complete", "output", "resetStepRun", "artifactVersion", "inputs", "logs", "saveStack", "deleteStack", "setActiveStack"]);

/** The outcomes of most writes (nothing, true, false), shared: a batch of 4,096 writes makes no object for them. */
const OK_NOTHING: Outcome = { ok: true, value: undefined };
const OK_TRUE: Outcome = { ok: true, value: true };
const OK_FALSE: Outcome = { ok: true, value: false };

function succeeded(value: unknown): Outcome {
  if (value === undefined) return OK_NOTHING;
  if (value === true) return OK_TRUE;
  if (value === false) return OK_FALSE;
  return { ok: true, value };
}

/** Thrown inside a batch to roll it back and run it again with savepoints. */
const RETRY_WITH_SAVEPOINTS = Symbol("retry the batch with savepoints");

/**
 * Applies batches of ops on one connection, in one IMMEDIATE transaction each. Writes rarely
 * fail, so a batch first runs without savepoints (each costs two statements); if a
 * multi-statement write fails, the transaction is rolled back and the batch runs again with a
 * savepoint around each such write, so that only the failing write is undone. Ops are plain
 * values, so running one again does the same thing.
 */
export class SqliteWriteApplier {
  private prepared: Statements | undefined;
  /** Patch updates touch a varying set of columns: one statement per set, prepared on first use. */
  private readonly updateStatements = new Map<string, Database.Statement>();
  private readonly savepoint: Database.Transaction<(op: SqliteOp) => unknown>;
  private readonly batchTransaction: Database.Transaction<(batch: readonly SqliteOp[], savepoints: boolean) => Outcome[]>;
  /** The last change sequence number taken in the batch being committed (read from the file on first use). */
  private seqCursor: number | undefined;
  /** Step runs whose INSERT failed (rare: kept for the connection's life): writes merged into it fail too. */
  private readonly failedInserts = new Set<string>();

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {
    this.savepoint = db.transaction((op: SqliteOp) => this.apply(op));
    this.batchTransaction = db.transaction((batch: readonly SqliteOp[], savepoints: boolean) => {
      this.seqCursor = undefined;
      const outcomes = batch.map((op): Outcome => {
        try {
          // Nested in the batch's transaction, better-sqlite3 runs the op in a SAVEPOINT and
          // rolls back to it if the op throws.
          return succeeded(savepoints && MULTI_STATEMENT.has(op.op) ? this.savepoint(op) : this.apply(op));
        } catch (error) {
          // A few errors (I/O, disk full) make SQLite roll back the whole transaction: then
          // nothing of the batch was written, and every write of it fails.
          if (!this.db.inTransaction) throw error;
          // A multi-statement write may have half happened: start over, this time with savepoints.
          if (!savepoints && MULTI_STATEMENT.has(op.op)) throw RETRY_WITH_SAVEPOINTS;
          return { ok: false, error: this.explain(error) };
        }
      });
      if (this.seqCursor !== undefined) this.sql.writeSeq.run(this.seqCursor);
      return outcomes;
    });
  }

  private get sql(): Statements {
    return (this.prepared ??= prepareStatements(this.db));
  }

  /** Commits one batch; throws (nothing of it on record) when the batch as a whole failed. */
  commit(batch: readonly SqliteOp[]): Outcome[] {
    // SQLite keeps writing to a file deleted while open (the open handle keeps it alive), and
    // every write would be lost when the process ends: one stat per batch catches it.
    if (this.path !== ":memory:" && !existsSync(this.path)) throw storeDeletedError(this.path);
    try {
      try {
        return this.batchTransaction.immediate(batch, false);
      } catch (error) {
        if (error !== RETRY_WITH_SAVEPOINTS) throw error;
        return this.batchTransaction.immediate(batch, true);
      }
    } catch (error) {
      // BEGIN, COMMIT or the transaction as a whole failed: nothing of the batch is on record.
      throw this.explain(error);
    }
  }

  /** Errors of the file itself (corrupt, read-only, deleted) name the file and what to do. */
  private explain(error: unknown): unknown {
    return storeFileError(this.path, error) ?? error;
  }

  /**
   * The next change sequence number, inside a batch's transaction. The batch holds the
   * write lock, so numbers taken by different processes never collide, and the counter
   * is written back once per batch.
   */
  private nextSeq(): number {
    this.seqCursor ??= this.sql.readSeq.get() as number;
    return ++this.seqCursor;
  }

  private apply(op: SqliteOp): unknown {
    const sql = this.sql;
    switch (op.op) {
      case "snapshot": {
        const pipelineId = sql.pipelineId.get(timeOrderedId(), op.pipelineName, op.createdAt) as string;
        sql.insertSnapshot.run({ id: op.id, pipelineId, isDynamic: op.isDynamic, parameters: op.parameters, source: op.source, spec: op.spec, createdAt: op.createdAt });
        return pipelineId;
      }
      case "configurations":
        for (const row of op.rows) sql.insertStepConfiguration.run(row);
        return undefined;
      case "run": {
        const seq = this.nextSeq();
        const pipelineId = sql.pipelineId.get(timeOrderedId(), op.pipelineName, op.row.createdAt) as string;
        sql.insertRun.run({ ...op.row, seq, pipelineId });
        return seq;
      }
      case "patch":
        return this.applyPatch(op);
      case "claimRun": {
        const { runId, owner, now, staleBefore } = op;
        if (sql.claimRun.run({ runId, owner, now, staleBefore, seq: this.nextSeq() }).changes === 1) return true;
        if (!sql.runExists.get(runId)) throw new Error(`claimRun: unknown run ${runId}`);
        return false;
      }
      case "deleteRun":
        return this.deleteRun(op.runId);
      case "stepRun": {
        const seq = this.nextSeq();
        op.values[17] = seq;
        try {
          sql.insertStepRun.run(op.values);
        } catch (error) {
          this.failedInserts.add(op.values[0] as string);
          throw error;
        }
        return seq;
      }
      case "stepRunExists":
        this.checkInserted(op.id);
        return undefined;
      case "complete": {
        if (op.patch) {
          if (!this.applyPatch(op.patch)) return false;
        } else {
          this.checkInserted(op.stepRunId);
          if (!op.merged) return false;
        }
        for (const artifact of op.artifacts) this.insertVersionRow(artifact);
        for (const o of op.outputs) sql.insertStepOutput.run(op.stepRunId, o.artifactVersionId, o.outputName, o.mappingKey, o.position);
        return true;
      }
      case "output": {
        const { artifact, link } = op;
        let version: ArtifactVersionRecord;
        if (artifact) {
          version = insertedArtifactVersion(artifact, this.insertVersionRow(artifact));
        } else {
          const existing = sql.getArtifactVersion.get(link.artifactVersionId) as ArtifactVersionRow | undefined;
          if (!existing) throw new Error(`addStepOutput: unknown artifact version ${link.artifactVersionId}`);
          version = toArtifactVersionRecord(existing);
        }
        sql.insertStepOutput.run(link.stepRunId, link.artifactVersionId, link.outputName, link.mappingKey, link.position);
        return version;
      }
      case "resetStepRun":
        if (sql.resetStepRun.get(this.nextSeq(), op.id) === undefined) {
          const status = sql.stepRunStatus.get(op.id) as string | undefined;
          throw new Error(status === undefined ? `resetStepRun: unknown step run ${op.id}` : `resetStepRun: step run ${op.id} is ${status}`);
        }
        sql.deleteStepOutputs.run(op.id);
        return undefined;
      case "artifactVersion":
        return insertedArtifactVersion(op.row, this.insertVersionRow(op.row));
      case "inputs":
        for (const row of op.rows) sql.insertStepInput.run(row);
        return undefined;
      case "task":
        sql.saveStepTask.run(op.stepRunId, op.attempt, op.task);
        return undefined;
      case "logs":
        for (const row of op.rows) sql.insertLog.run(row);
        return undefined;
      case "saveStack": {
        sql.insertStack.run(op.name, op.createdAt);
        sql.deleteStackMembers.run(op.name);
        op.components.forEach((component, position) => {
          const componentId = sql.upsertComponent.get({ ...component, id: timeOrderedId() }) as string;
          sql.insertStackMember.run(op.name, componentId, position);
        });
        return readStack(sql, op.name);
      }
      case "deleteStack":
        sql.deleteStackMembers.run(op.name);
        // Component rows stay: runs and artifact versions keep referring to them.
        return sql.deleteStack.run(op.name).changes > 0;
      case "setActiveStack":
        if (!sql.getStack.get(op.name)) throw new Error(`setActiveStack: unknown stack ${op.name}`);
        sql.putSetting.run(ACTIVE_STACK_KEY, op.name);
        return undefined;
    }
  }

  /**
   * A write merged into a step run's INSERT earlier in the batch fails as an UPDATE of a
   * missing row would when that INSERT failed.
   */
  private checkInserted(stepRunId: string): void {
    if (this.failedInserts.has(stepRunId)) throw new Error(`step_runs: no row with id ${stepRunId}`);
  }

  /** Sets the columns (and a new change sequence number); false when a fenced update does not apply. */
  private applyPatch(op: PatchOp): boolean {
    const fenced = op.fence !== undefined;
    const key = `${op.table}:${op.columns.join(",")}:${fenced}`;
    let statement = this.updateStatements.get(key);
    if (!statement) {
      const set = [...op.columns, "seq"].map((c) => `${c} = ?`).join(", ");
      const where = fenced ? `id = ? AND attempt <= ? AND status NOT IN (${FINAL_STATUSES})` : `id = ?`;
      statement = this.db.prepare(`UPDATE ${op.table} SET ${set} WHERE ${where}`);
      this.updateStatements.set(key, statement);
    }
    const args = [...op.values, this.nextSeq(), op.id];
    if (fenced) args.push(op.fence);
    if (statement.run(args).changes === 1) return true;
    if (fenced && this.sql.stepRunExists.get(op.id)) return false;
    throw new Error(`${op.table}: no row with id ${op.id}`);
  }

  /** Inserts the version row with the next number of its name; returns the number. */
  private insertVersionRow(row: ArtifactVersionInsert): number {
    const version = this.sql.nextArtifactVersion.get(row.artifactName, row.createdAt) as number;
    this.sql.insertArtifactVersion.run(row.id, row.artifactName, version, row.uri, row.dataType, row.materializer, row.contentHash, row.size, row.metadata, row.createdAt, row.artifactStoreId);
    return version;
  }

  private deleteRun(runId: string): { artifactUris: { uri: string; artifactStoreId: string | null }[] } {
    const sql = this.sql;
    const run = sql.getRun.get(runId) as RunRow | undefined;
    if (!run) throw new Error(`deleteRun: unknown run ${runId}`);
    const candidates = new Set(sql.runArtifactVersions.all({ runId }) as string[]);
    for (const id of outputArtifactIds(fromJson(run.output))) candidates.add(id);
    // Step runs, their links, configurations and tasks, and the run's logs go with the run (ON DELETE CASCADE).
    sql.deleteRun.run(runId);
    sql.deleteUnusedSnapshot.run(run.snapshot_id, run.snapshot_id);
    const artifactUris: { uri: string; artifactStoreId: string | null }[] = [];
    for (const id of candidates) {
      const deleted = sql.deleteUnlinkedVersion.get(id, id, id) as { uri: string; artifact_store_id: string | null } | undefined;
      if (deleted) artifactUris.push({ uri: deleted.uri, artifactStoreId: deleted.artifact_store_id });
    }
    return { artifactUris };
  }
}

/** A stack with its components, in the order they were saved. */
export function readStack(sql: Statements, name: string): StackRecord | undefined {
  const row = sql.getStack.get(name) as StackRow | undefined;
  if (!row) return undefined;
  const components = (sql.stackMembers.all(name) as MemberRow[]).map(toComponentRecord);
  return { name: row.name, components, createdAt: row.created_at };
}
