import { describe, expect, it } from "vitest";

import { artifactStoreFromComponent } from "../../src/stores/artifacts/resolve.js";
import type { ArtifactKey, ArtifactStore } from "../../src/stores/artifacts/types.js";

/**
 * Behaviour every ArtifactStore must have. Each test makes its own store with `make` and
 * uses its own run id, so stores may share one root. The store's flavor must be registered
 * (`registerArtifactStoreFlavor`) for the config round-trip.
 */
export function artifactStoreConformance(name: string, make: () => Promise<ArtifactStore>): void {
  let runCounter = 0;
  const freshRunId = () => `run-${Date.now()}-${runCounter++}`;
  const key = (overrides: Partial<ArtifactKey> = {}): ArtifactKey => ({
    runId: freshRunId(),
    invocationId: "step",
    outputName: "output",
    ...overrides,
  });

  describe(`${name} (artifact store conformance)`, () => {
    it("round-trips binary bytes exactly, small and large", async () => {
      const store = await make();
      const every = new Uint8Array(256).map((_, i) => i);
      const uri = await store.save(key(), every);
      expect(Buffer.from(await store.read(uri)).equals(Buffer.from(every))).toBe(true);

      // A view stores only its own bytes, not the whole underlying buffer.
      const view = new Uint8Array([1, 2, 3, 4, 5, 6]).subarray(2, 5);
      expect([...(await store.read(await store.save(key({ outputName: "view" }), view)))]).toEqual([3, 4, 5]);

      expect((await store.read(await store.save(key({ outputName: "empty" }), new Uint8Array(0)))).byteLength).toBe(0);

      // Saved together (they may share a pack): a one-byte value at offset 0 reads as one byte.
      const runId = freshRunId();
      const [one, three] = await Promise.all([store.save(key({ runId }), new Uint8Array([7])), store.save(key({ runId, outputName: "b" }), new Uint8Array([1, 2, 3]))]);
      expect([...(await store.read(one))]).toEqual([7]);
      expect([...(await store.read(three))]).toEqual([1, 2, 3]);

      const large = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      const largeUri = await store.save(key({ outputName: "large" }), large);
      expect(Buffer.from(await store.read(largeUri)).equals(Buffer.from(large))).toBe(true);
    });

    it("gives every saved value its own uri under the root, even for the same key", async () => {
      const store = await make();
      const runId = freshRunId();
      const first = await store.save(key({ runId }), new Uint8Array([1]));
      const second = await store.save(key({ runId }), new Uint8Array([2, 2]));
      const item = await store.save(key({ runId, mappingKey: "k" }), new Uint8Array([3]));
      const other = await store.save(key({ runId, invocationId: "other" }), new Uint8Array([4]));
      expect(new Set([first, second, item, other]).size).toBe(4);
      for (const uri of [first, second, item, other]) expect(uri.startsWith(store.root)).toBe(true);
      // Saving again never changes what an earlier uri reads.
      expect([...(await store.read(first))]).toEqual([1]);
      expect([...(await store.read(second))]).toEqual([2, 2]);
    });

    it("reports existence", async () => {
      const store = await make();
      const uri = await store.save(key(), new Uint8Array([1]));
      expect(await store.exists(uri)).toBe(true);
      expect(await store.exists(`${store.root}/no-such-run/no-such-artifact`)).toBe(false);
    });

    it("keeps weird ids inside the root", async () => {
      const store = await make();
      const runId = freshRunId();
      const weird: ArtifactKey[] = [
        { runId: "a/../b", invocationId: "x[k]", outputName: "out" },
        { runId: "..", invocationId: ".", outputName: "out" },
        { runId, invocationId: "x[k]", outputName: "../../escape" },
        { runId, invocationId: "map[0][a/b]", outputName: "out", mappingKey: "../k\\ey" },
      ];
      for (const [index, parts] of weird.entries()) {
        for (const size of [1, 200 * 1024]) {
          const uri = await store.save(parts, new Uint8Array(size).fill(index));
          expect(uri.startsWith(store.root)).toBe(true);
          expect(uri.slice(store.root.length).split(/[\\/]/)).not.toContain("..");
          expect((await store.read(uri))[0]).toBe(index);
        }
      }
    });

    it("rejects reading a missing uri with an error naming it", async () => {
      const store = await make();
      const uri = `${store.root}/${freshRunId()}/missing`;
      await expect(store.read(uri)).rejects.toThrow(uri);
    });

    it("handles 200 concurrent saves", async () => {
      const store = await make();
      const runId = freshRunId();
      const uris = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          store.save({ runId, invocationId: `step-${i % 20}`, outputName: "output", mappingKey: String(i) }, Buffer.from(`value ${i}`)),
        ),
      );
      const read = await Promise.all(uris.map((uri) => store.read(uri)));
      expect(read.map((bytes) => Buffer.from(bytes).toString("utf8"))).toEqual(uris.map((_, i) => `value ${i}`));
    });

    it("round-trips its config through its flavor factory: the rebuilt store reads and writes the same artifacts", async () => {
      const store = await make();
      const config = store.config();
      // Recorded as JSON in the component row: nothing may be lost on the way.
      expect(JSON.parse(JSON.stringify(config))).toEqual(config);
      const rebuilt = artifactStoreFromComponent({ flavor: store.flavor, name: store.name, config: JSON.parse(JSON.stringify(config)) });
      expect(rebuilt).not.toBe(store);
      expect(rebuilt.flavor).toBe(store.flavor);
      expect(rebuilt.name).toBe(store.name);
      expect(rebuilt.root).toBe(store.root);
      expect(rebuilt.config()).toEqual(config);
      const runId = freshRunId();
      const small = await store.save(key({ runId }), Buffer.from("small"));
      const large = await store.save(key({ runId, outputName: "large" }), new Uint8Array(2 * 1024 * 1024).fill(9));
      expect(Buffer.from(await rebuilt.read(small)).toString()).toBe("small");
      expect((await rebuilt.read(large)).byteLength).toBe(2 * 1024 * 1024);
      const back = await rebuilt.save(key({ runId, outputName: "back" }), Buffer.from("back"));
      expect(Buffer.from(await store.read(back)).toString()).toBe("back");
    });

    it("deletes artifacts, keeping a shared pack until every artifact in it is deleted", async (context) => {
      const store = await make();
      if (!store.delete) return context.skip("this store has no delete()");
      const runId = freshRunId();
      const small = await Promise.all(Array.from({ length: 4 }, (_, i) => store.save(key({ runId, invocationId: `s${i}` }), Buffer.from(`v${i}`))));
      const large = await store.save(key({ runId, outputName: "large" }), new Uint8Array(2 * 1024 * 1024).fill(1));
      await store.delete([small[0], large]);
      expect(await store.exists(large)).toBe(false);
      // The others may share small[0]'s pack: they must stay readable.
      for (const [i, uri] of small.slice(1).entries()) expect(Buffer.from(await store.read(uri)).toString()).toBe(`v${i + 1}`);
      // A pack goes once one call covers all of it (a run's artifacts are deleted together).
      await store.delete(small);
      for (const uri of small) expect(await store.exists(uri)).toBe(false);
      // Deleting what is already gone is not an error.
      await store.delete([large, ...small]);
      await expect(store.delete([`${store.root}-sibling/run/x`])).rejects.toThrow(/outside the root/);
    });
  });
}
