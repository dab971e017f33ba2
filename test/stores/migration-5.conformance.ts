/**
 * Schema 5 ("lean step bookkeeping") moves artifact names onto their versions, keys
 * artifacts by name and, in SQLite, rebuilds the link tables. A store that an older weir
 * left at schema 4, with data in it, must come out of the migration with every row, link
 * and counter intact. Each SQL store runs this with its own way to reach the raw database.
 */
import { describe, expect, it } from "vitest";
import { migrations } from "../../src/stores/metadata/migrations.js";
import type { MetadataStore } from "../../src/stores/metadata/types.js";

/** Runs one statement on the raw database; `?` placeholders, in order. */
export type RawExec = (sql: string, params?: unknown[]) => Promise<void>;

export function migrationFromSchema4(
  name: string,
  hooks: {
    /** A new, empty database and a way to run statements on it. */
    empty(): Promise<{ exec: RawExec; dialect: "sqlite" | "postgres" }>;
    /** The store over that database, migrated to the newest schema. */
    open(): Promise<MetadataStore>;
  },
): void {
  describe(`schema 4 → 5 with data: ${name}`, () => {
    it("keeps every version, link, configuration and version counter", async () => {
      const { exec, dialect } = await hooks.empty();
      await exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      for (const migration of migrations.filter((m) => m.version <= 4)) {
        for (const statement of migration.up(dialect)) await exec(statement);
        await exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)`, [migration.version, migration.name]);
      }
      // What weir wrote at schema 4: a run with a producer and a consumer, an artifact at version 2.
      await exec(`INSERT INTO pipelines (id, name, created_at) VALUES ('p', 'old_pipeline', 1)`);
      await exec(`INSERT INTO pipeline_snapshots (id, pipeline_id, is_dynamic, parameters, source, spec, created_at) VALUES ('s', 'p', 1, '{}', '{}', 'null', 1)`);
      await exec(
        `INSERT INTO pipeline_runs (id, name, pipeline_id, snapshot_id, stack_name, is_dynamic, status, created_at, output, enable_cache)
         VALUES ('r', 'old-run', 'p', 's', 'default', 1, 'completed', 1, '{"$artifact":"v2"}', 1)`,
      );
      for (const [id, invocation, position] of [["a", "make", 0], ["b", "use", 1]] as const) {
        await exec(
          `INSERT INTO step_runs (id, run_id, invocation_id, step_name, status, attempt, position, upstream, parameters, created_at, metadata)
           VALUES (?, 'r', ?, ?, 'completed', 1, ?, '[]', '{}', 1, '{}')`,
          [id, invocation, invocation, position],
        );
        await exec(
          `INSERT INTO step_configurations (id, snapshot_id, step_run_id, invocation_id, step_name, config) VALUES (?, NULL, ?, ?, ?, '{"old":true}')`,
          [`c-${id}`, id, invocation, invocation],
        );
      }
      await exec(`INSERT INTO artifacts (id, name, created_at, latest_version) VALUES ('art', 'old_pipeline::make::output', 1, 2)`);
      for (const [id, version] of [["v1", 1], ["v2", 2]] as const) {
        await exec(
          `INSERT INTO artifact_versions (id, artifact_id, version, uri, data_type, materializer, content_hash, size, metadata, created_at, artifact_store_id)
           VALUES (?, 'art', ?, ?, 'number', 'weir.json', 'hash', 1, '{"k":1}', ?, NULL)`,
          [id, version, `file:///old/${id}`, version],
        );
      }
      await exec(`INSERT INTO step_run_outputs (step_run_id, artifact_version_id, output_name, mapping_key, position) VALUES ('a', 'v2', 'output', NULL, 0)`);
      await exec(`INSERT INTO step_run_inputs (step_run_id, artifact_version_id, input_name) VALUES ('b', 'v2', 'arg0')`);

      const store = await hooks.open();
      try {
        const newest = await store.getArtifactVersionByName("old_pipeline::make::output");
        expect(newest).toMatchObject({ id: "v2", artifactName: "old_pipeline::make::output", version: 2, uri: "file:///old/v2", metadata: { k: 1 } });
        expect((await store.getArtifactVersion("v1"))?.version).toBe(1);
        expect(await store.listStepOutputs("a")).toEqual([{ stepRunId: "a", artifactVersionId: "v2", outputName: "output", mappingKey: null, position: 0 }]);
        expect(await store.listStepInputs("b")).toEqual([{ stepRunId: "b", artifactVersionId: "v2", inputName: "arg0" }]);
        expect(await store.listArtifactVersionLinks("v2")).toMatchObject({ outputs: [{ stepRunId: "a" }], inputs: [{ stepRunId: "b" }] });
        expect((await store.listStepConfigurations({ stepRunId: "b" })).map((c) => c.config)).toEqual([{ old: true }]);
        // The name's counter carries on after the migration: the next version is 3.
        const next = await store.createArtifactVersion({
          artifactName: "old_pipeline::make::output",
          uri: "file:///new",
          dataType: "number",
          materializer: "weir.json",
          contentHash: "h",
          size: 1,
        });
        expect(next.version).toBe(3);
        // Deleting the old run still takes its versions (and their links) with it.
        const { artifactUris } = await store.deleteRun("r");
        expect(artifactUris.map((u) => u.uri).sort()).toEqual(["file:///old/v2"]);
        expect(await store.getArtifactVersion("v2")).toBeUndefined();
      } finally {
        await store.close();
      }
    });
  });
}
