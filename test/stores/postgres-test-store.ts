/**
 * The store switch for the test suite (vitest setup file): with WEIR_TEST_STORE=postgres,
 * every test file gets a fresh PostgreSQL database of its own, named by WEIR_STORE_URL
 * before the file is imported, so that every store the tests open (and the child
 * processes they start, which inherit the environment) is that database instead of the
 * temporary home's SQLite file. The database is dropped when the file is done.
 * Without the switch (or with WEIR_TEST_STORE=sqlite) this file does nothing.
 */
import { afterAll } from "vitest";
import { closeMetadataStores } from "../../src/config/home.js";
import { createTestDatabase } from "./postgres-database.js";

const choice = process.env.WEIR_TEST_STORE ?? "sqlite";
if (choice !== "sqlite" && choice !== "postgres") {
  throw new Error(`WEIR_TEST_STORE must be "sqlite" or "postgres", not "${choice}"`);
}

if (choice === "postgres") {
  const database = await createTestDatabase();
  process.env.WEIR_STORE_URL = database.url;
  afterAll(async () => {
    await closeMetadataStores();
    await database.drop();
  });
}
