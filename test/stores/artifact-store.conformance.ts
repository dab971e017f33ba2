import { describe, expect, it } from "vitest";

import type { ArtifactStore } from "../../src/stores/artifacts/types.js";

/**
 * Behaviour every ArtifactStore must have. Each test makes its own store with `make` and
 * uses its own run id, so stores may share one root.
 */
export function artifactStoreConformance(name: string, make: () => Promise<ArtifactStore>): void {
  let runCounter = 0;
  const freshRunId = () => `run-${Date.now()}-${runCounter++}`;

  describe(`${name} (artifact store conformance)`, () => {
    it("round-trips binary bytes exactly", async () => {
      const store = await make();
      const every = new Uint8Array(256).map((_, i) => i);
      const uri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "output" });
      await store.write(uri, every);
      expect(Buffer.from(await store.read(uri)).equals(Buffer.from(every))).toBe(true);

      // A view writes only its own bytes, not the whole underlying buffer.
      const view = new Uint8Array([1, 2, 3, 4, 5, 6]).subarray(2, 5);
      const viewUri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "view" });
      await store.write(viewUri, view);
      expect([...(await store.read(viewUri))]).toEqual([3, 4, 5]);

      const emptyUri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "empty" });
      await store.write(emptyUri, new Uint8Array(0));
      expect((await store.read(emptyUri)).byteLength).toBe(0);
    });

    it("overwrites an existing uri", async () => {
      const store = await make();
      const uri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "output" });
      await store.write(uri, new Uint8Array([1, 2, 3, 4]));
      await store.write(uri, new Uint8Array([9]));
      expect([...(await store.read(uri))]).toEqual([9]);
    });

    it("reports existence and removes", async () => {
      const store = await make();
      const uri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "output" });
      expect(await store.exists(uri)).toBe(false);
      await store.write(uri, new Uint8Array([1]));
      expect(await store.exists(uri)).toBe(true);
      await store.remove(uri);
      expect(await store.exists(uri)).toBe(false);
      // Removing what is already gone is not an error.
      await store.remove(uri);
    });

    it("gives a distinct uri under the root for every run, step run, output and item", async () => {
      const store = await make();
      const base = { runId: "r", invocationId: "i", outputName: "o" };
      const variants = [
        base,
        { ...base, runId: "r2" },
        { ...base, invocationId: "i2" },
        { ...base, outputName: "o2" },
        { ...base, mappingKey: "k" },
        { ...base, mappingKey: "k2" },
        // Parts must not run into each other.
        { runId: "r/i", invocationId: "o", outputName: "x" },
        { runId: "r", invocationId: "i/o", outputName: "x" },
      ];
      const uris = variants.map((parts) => store.uriFor(parts));
      expect(new Set(uris).size).toBe(uris.length);
      for (const uri of uris) expect(uri.startsWith(store.root)).toBe(true);
      expect(store.uriFor({ ...base, mappingKey: null })).toBe(store.uriFor(base));
      expect(store.uriFor(base)).toBe(store.uriFor({ ...base }));
    });

    it("keeps weird ids inside the root", async () => {
      const store = await make();
      const runId = freshRunId();
      const weird = [
        { runId: "a/../b", invocationId: "x[k]", outputName: "out" },
        { runId: "..", invocationId: ".", outputName: "out" },
        { runId, invocationId: "x[k]", outputName: "../../escape" },
        { runId, invocationId: "map[0][a/b]", outputName: "out", mappingKey: "../k\\ey" },
        { runId, invocationId: "x[k]", outputName: "out" },
      ];
      const uris = weird.map((parts) => store.uriFor(parts));
      expect(new Set(uris).size).toBe(uris.length);
      expect(uris).not.toContain(store.uriFor({ runId: "b", invocationId: "x[k]", outputName: "out" }));
      for (const [index, uri] of uris.entries()) {
        expect(uri.startsWith(store.root)).toBe(true);
        const segments = uri.slice(store.root.length).split(/[\\/]/);
        expect(segments).not.toContain("..");
        expect(segments).not.toContain(".");
        await store.write(uri, new Uint8Array([index]));
      }
      for (const [index, uri] of uris.entries()) expect([...(await store.read(uri))]).toEqual([index]);
    });

    it("rejects reading a missing uri with an error naming it", async () => {
      const store = await make();
      const uri = store.uriFor({ runId: freshRunId(), invocationId: "step", outputName: "missing" });
      await expect(store.read(uri)).rejects.toThrow(uri);
    });

    it("handles 200 concurrent writes to different uris", async () => {
      const store = await make();
      const runId = freshRunId();
      const uris = Array.from({ length: 200 }, (_, i) =>
        store.uriFor({ runId, invocationId: `step-${i % 20}`, outputName: "output", mappingKey: String(i) }),
      );
      await Promise.all(uris.map((uri, i) => store.write(uri, Buffer.from(`value ${i}`))));
      const read = await Promise.all(uris.map((uri) => store.read(uri)));
      expect(read.map((bytes) => Buffer.from(bytes).toString("utf8"))).toEqual(uris.map((_, i) => `value ${i}`));
    });
  });
}
