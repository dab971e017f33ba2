/**
 * Throw-away PostgreSQL databases for tests, on the server at 127.0.0.1:5432 (trust auth,
 * the default user). Each caller gets a database of its own, `weir_test_<random>`, and drops it.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { connectionOptions } from "../../src/stores/metadata/postgres/postgres-store.js";

export const PG_SERVER = process.env.WEIR_TEST_PG_SERVER ?? "postgresql://127.0.0.1:5432";

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(connectionOptions(`${PG_SERVER}/postgres`));
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database; returns its URL and a function that drops it (closing its other connections). */
export async function createTestDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `weir_test_${randomBytes(6).toString("hex")}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    url: `${PG_SERVER}/${name}`,
    name,
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * Every row of the weir schema deleted, and the change counter back at its start: a fresh
 * store, much faster than a new database or TRUNCATE. Deleting the roots cascades to the rest.
 */
export async function emptyDatabase(url: string): Promise<void> {
  const client = new pg.Client(connectionOptions(url));
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('schedules') IS NOT NULL AS ok`);
    if (!exists.rows[0].ok) return;
    await client.query(
      `BEGIN;
       DELETE FROM pipelines; DELETE FROM artifacts; DELETE FROM stacks; DELETE FROM stack_components; DELETE FROM settings; DELETE FROM schedules;
       UPDATE sequences SET value = 1 WHERE name = 'changes';
       COMMIT`,
    );
  } finally {
    await client.end();
  }
}
