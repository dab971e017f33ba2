import { afterAll, beforeAll } from "vitest";
import { openPostgresStore, PostgresMetadataStore } from "../../src/stores/metadata/postgres/postgres-store.js";
import { metadataStoreConformance } from "./metadata-store.conformance.js";
import { createTestDatabase, emptyDatabase } from "./postgres-database.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.drop());

// One database for the file, emptied before each test: creating a database per test costs ~0.3 s.
metadataStoreConformance("postgres", {
  open: async () => {
    await emptyDatabase(database.url);
    return new PostgresMetadataStore(database.url);
  },
  openSecond: async () => openPostgresStore(database.url),
});
