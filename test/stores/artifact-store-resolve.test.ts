import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ArtifactStoreError, StackError } from "../../src/authoring/errors.js";
import { LocalArtifactStore } from "../../src/stores/artifacts/local/local-artifact-store.js";
import { artifactStoreFlavorNames, artifactStoreFromComponent, resolveArtifactStore } from "../../src/stores/artifacts/resolve.js";
import { SqliteMetadataStore } from "../../src/stores/metadata/sqlite/sqlite-store.js";
import type { ComponentRecord } from "../../src/stores/metadata/types.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "weir-resolve-"));
const metadata = new SqliteMetadataStore({ path: path.join(root, "weir.db") });
beforeAll(() => metadata.migrate());
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
/** Component lookups over the real store's stack rows (the store's own getComponent may not exist yet). */
const components = async (): Promise<ComponentRecord[]> => (await metadata.listStacks()).flatMap((s) => s.components);
const withLookups = {
  listStacks: () => metadata.listStacks(),
  listComponents: components,
  getComponent: async (id: string) => (await components()).find((c) => c.id === id),
};

describe("artifactStoreFromComponent", () => {
  it("builds a store of the recorded flavor with its name and config, once per record", () => {
    const record = { flavor: "local", name: "shared", config: { path: path.join(root, "shared") } };
    const store = artifactStoreFromComponent(record);
    expect(store).toBeInstanceOf(LocalArtifactStore);
    expect(store.name).toBe("shared");
    expect(store.root).toBe(path.join(root, "shared"));
    expect(artifactStoreFromComponent({ ...record, config: { ...record.config } })).toBe(store);
    expect(artifactStoreFlavorNames()).toContain("local");
  });

  it("names the store and what is wrong with its record", () => {
    expect(() => artifactStoreFromComponent({ flavor: "gcs", name: "cloud", config: {} })).toThrow(StackError);
    expect(() => artifactStoreFromComponent({ flavor: "gcs", name: "cloud", config: {} })).toThrow(
      /artifact store "cloud" has flavor "gcs", which is unknown here \(known: local/,
    );
    expect(() => artifactStoreFromComponent({ flavor: "local", name: "nopath", config: {} })).toThrow(
      /local artifact store "nopath" needs "path" \(a non-empty string\) in its config, got undefined/,
    );
  });
});

describe("resolveArtifactStore", () => {
  it("uses the store the version names, rebuilt from its component record", async () => {
    const original = new LocalArtifactStore({ path: path.join(root, "team"), name: "team" });
    const stack = await metadata.saveStack({ name: "team", components: [{ type: "artifact_store", name: "team", flavor: "local", config: original.config() }] });
    const uri = await original.save({ runId: "r", invocationId: "s", outputName: "output" }, Buffer.from("held by team"));
    const resolved = await resolveArtifactStore(withLookups, { id: "v1", uri, artifactStoreId: stack.components[0].id });
    expect(resolved.name).toBe("team");
    expect(Buffer.from(await resolved.read(uri)).toString()).toBe("held by team");
    // One store object per component record and process.
    const again = await resolveArtifactStore(withLookups, { id: "v1", uri, artifactStoreId: stack.components[0].id });
    expect(again).toBe(resolved);

    await expect(resolveArtifactStore(withLookups, { id: "v2", uri, artifactStoreId: "no-such-component" })).rejects.toThrow(
      new ArtifactStoreError("artifact version v2 is held by artifact store no-such-component, which is not registered in this metadata store"),
    );
  });

  it("for rows that name no store: a registered store whose root holds the uri, else a local store at the uri's folder", async () => {
    // A malformed record of another store does not stop the lookup.
    await metadata.saveStack({ name: "broken", components: [{ type: "artifact_store", name: "broken", flavor: "local", config: {} }] });
    const registered = new LocalArtifactStore({ path: path.join(root, "registered"), name: "registered" });
    await metadata.saveStack({ name: "registered", components: [{ type: "artifact_store", name: "registered", flavor: "local", config: registered.config() }] });
    const uri = await registered.save({ runId: "r", invocationId: "s", outputName: "output" }, Buffer.from("old row"));
    const byRoot = await resolveArtifactStore(withLookups, { id: "v3", uri, artifactStoreId: null });
    expect(byRoot.name).toBe("registered");

    const loose = new LocalArtifactStore({ path: path.join(root, "unregistered") });
    const looseUri = await loose.save({ runId: "r", invocationId: "s", outputName: "output" }, Buffer.from("loose"));
    const byFolder = await resolveArtifactStore(withLookups, { id: "v4", uri: looseUri, artifactStoreId: null });
    expect(Buffer.from(await byFolder.read(looseUri)).toString()).toBe("loose");

    await expect(resolveArtifactStore(withLookups, { id: "v5", uri: "s3://elsewhere/run/x#0+1", artifactStoreId: null })).rejects.toThrow(
      /no artifact store can read artifact version v5 \(s3:\/\/elsewhere\/run\/x#0\+1\)/,
    );
  });
});
