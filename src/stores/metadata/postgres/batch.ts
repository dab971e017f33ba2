/**
 * How the PostgreSQL store commits a batch of writes: one transaction, one round trip per
 * group of alike writes (multi-row statements over `unnest` arrays), never one per row.
 *
 * The engine interleaves its writes (create s1, start s1, create s2, start s2, …); grouped
 * only when adjacent they would be one statement each. So a write joins the latest group of
 * its shape when no write between that group and it writes the rows it writes or reads
 * (`writes` and `reads` keys): moving it earlier then cannot change the outcome. Writes of one row stay
 * in call order, and a row is never created after a write that needs it.
 */
import type pg from "pg";
import type { Outcome } from "../write-batcher.js";

/** Hands out the change sequence numbers a batch reserved, in the order the batch applies its writes. */
export interface SeqSource {
  next(): number;
}

/** Runs the writes of one group (all of one shape) and returns one result per write, in order. */
export type GroupApply = (db: pg.ClientBase, group: readonly PgWrite[], seq: SeqSource) => Promise<unknown[]>;

export interface PgWrite {
  /** Writes of one shape can be applied together by `apply`; a unique shape is never grouped. */
  shape: string;
  apply: GroupApply;
  /** Rows (by key) the write creates or changes; `*` makes it a barrier nothing moves across. */
  writes: readonly string[];
  /**
   * Rows it needs to exist (foreign keys) without changing them. A read orders the write
   * after the writes of those rows; a later write of a row does not wait for its readers,
   * since no write removes a row but the barriers.
   */
  reads: readonly string[];
  /** Change sequence numbers it takes (one per run or step-run row it inserts or updates). */
  seqs: number;
  /** The write's values, taken when it was called. */
  args: unknown;
}

let uniqueShapes = 0;
/** A shape of its own: a write that is not grouped with any other. */
export const singleShape = (name: string) => `${name}#${++uniqueShapes}`;

/** Groups the batch (see the module comment), keeping the order of groups by their first write. */
export function groupWrites(batch: readonly PgWrite[]): PgWrite[][] {
  const groups: PgWrite[][] = [];
  const lastWrite = new Map<string, number>();
  const lastOfShape = new Map<string, number>();
  let barrier = -1;
  for (const write of batch) {
    const isBarrier = write.writes.includes("*");
    // The first group this write may join: after every group with a write it conflicts with.
    let earliest = barrier + 1;
    if (isBarrier) earliest = groups.length;
    for (const key of write.reads) earliest = Math.max(earliest, (lastWrite.get(key) ?? -1) + 1);
    for (const key of write.writes) earliest = Math.max(earliest, (lastWrite.get(key) ?? -1) + 1);
    let index = lastOfShape.get(write.shape) ?? -1;
    if (index < earliest) {
      index = groups.length;
      groups.push([]);
      lastOfShape.set(write.shape, index);
    }
    groups[index].push(write);
    if (isBarrier) barrier = index;
    for (const key of write.writes) lastWrite.set(key, index);
  }
  return groups;
}

/** Errors after which the whole batch is run again: nothing of it committed, and trying again can succeed. */
const RETRYABLE = new Set(["40P01", "40001"]); // deadlock detected, serialization failure
const MAX_RETRIES = 5;

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string } | null)?.code ?? "");
}

/**
 * Commits a batch. It first runs grouped, without savepoints; if a statement fails, the
 * transaction is rolled back and the batch runs again write by write, each in a SAVEPOINT,
 * so that only the failing write fails. The writes hold their values, so running one
 * again does the same thing. Throws only when the batch as a whole failed.
 *
 * `begin` starts the transaction and reserves `seqs` change sequence numbers (its lock on
 * the counter also orders concurrent writers' batches, so they cannot deadlock).
 */
export async function commitBatch(
  db: pg.ClientBase,
  batch: readonly PgWrite[],
  begin: (db: pg.ClientBase, seqs: number) => Promise<SeqSource>,
  progress: BatchProgress = { committing: false },
): Promise<Outcome[]> {
  const seqs = batch.reduce((sum, write) => sum + write.seqs, 0);
  for (let attempt = 0; ; attempt++) {
    try {
      try {
        return await grouped(db, batch, await begin(db, seqs), progress);
      } catch (error) {
        await db.query("ROLLBACK");
        if (isRetryable(error)) throw error;
        return await oneByOne(db, batch, await begin(db, seqs), progress);
      }
    } catch (error) {
      await db.query("ROLLBACK").catch(() => undefined);
      if (!isRetryable(error) || attempt >= MAX_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}

/**
 * Whether COMMIT was sent: a connection lost before it leaves nothing of the batch on
 * record (the server rolls back), so the batch can be sent again on a new connection.
 */
export interface BatchProgress {
  committing: boolean;
}

async function grouped(db: pg.ClientBase, batch: readonly PgWrite[], seq: SeqSource, progress: BatchProgress): Promise<Outcome[]> {
  const results = new Map<PgWrite, unknown>();
  for (const group of groupWrites(batch)) {
    const values = await group[0].apply(db, group, seq);
    group.forEach((write, i) => results.set(write, values[i]));
  }
  progress.committing = true;
  await db.query("COMMIT");
  return batch.map((write) => ({ ok: true, value: results.get(write) }));
}

async function oneByOne(db: pg.ClientBase, batch: readonly PgWrite[], seq: SeqSource, progress: BatchProgress): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const write of batch) {
    await db.query("SAVEPOINT write");
    try {
      const [value] = await write.apply(db, [write], seq);
      await db.query("RELEASE SAVEPOINT write");
      outcomes.push({ ok: true, value });
    } catch (error) {
      // A deadlock or a lost connection is the batch's failure, not this write's.
      if (!isStatementError(error)) throw error;
      await db.query("ROLLBACK TO SAVEPOINT write");
      outcomes.push({ ok: false, error });
    }
  }
  progress.committing = true;
  await db.query("COMMIT");
  return outcomes;
}

/**
 * An error of the write itself (a constraint, an unknown id), as opposed to one of the
 * connection or the server. Errors the store throws for a write (unknown id) carry no code.
 */
function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return error instanceof Error;
  // Classes 22 (data), 23 (integrity constraint), 42 (syntax / undefined object), P0 (raise).
  return /^(22|23|42|P0)/.test(code);
}
