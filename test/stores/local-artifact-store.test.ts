import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { LocalArtifactStore } from "../../src/stores/artifacts/local/local-artifact-store.js";
import { artifactStoreConformance } from "./artifact-store.conformance.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "weir-artifacts-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let storeCounter = 0;
/** A store with its own subdirectory of the temp root. */
const makeStore = () => new LocalArtifactStore({ path: path.join(root, `store-${storeCounter++}`) });

artifactStoreConformance("LocalArtifactStore", async () => makeStore());

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe("LocalArtifactStore", () => {
  it("has the local flavor, a default name and an absolute root", () => {
    const store = new LocalArtifactStore({ path: "relative/artifacts" });
    expect(store.flavor).toBe("local");
    expect(store.name).toBe("default");
    expect(store.root).toBe(path.resolve("relative/artifacts"));
    expect(new LocalArtifactStore({ path: root, name: "shared" }).name).toBe("shared");
  });

  it("lays artifacts out as <root>/<runId>/<invocationId>+<outputName>[+<mappingKey>]", () => {
    const store = makeStore();
    expect(store.uriFor({ runId: "r", invocationId: "train[3]", outputName: "model" })).toBe(
      path.join(store.root, "r", "train%5B3%5D+model"),
    );
    expect(store.uriFor({ runId: "r", invocationId: "split", outputName: "parts", mappingKey: "a/b" })).toBe(
      path.join(store.root, "r", "split+parts+a%2Fb"),
    );
    // "+" inside a part is escaped, so parts never run into each other.
    expect(store.uriFor({ runId: "r", invocationId: "a+b", outputName: "c" })).toBe(path.join(store.root, "r", "a%2Bb+c"));
    expect(() => store.uriFor({ runId: "", invocationId: "s", outputName: "o" })).toThrow(/must not be empty/);
  });

  it("puts a name too long for one file name in one directory per part", async () => {
    const store = makeStore();
    const invocationId = `step[${"k".repeat(150)}]`;
    const mappingKey = "m".repeat(120);
    const uri = store.uriFor({ runId: "r", invocationId, outputName: "out", mappingKey });
    expect(uri).toBe(path.join(store.root, "r", encodeURIComponent(invocationId), "out", mappingKey));
    await store.write(uri, new Uint8Array([1]));
    expect([...(await store.read(uri))]).toEqual([1]);
    // A short name of the same run stays flat, beside it.
    const short = store.uriFor({ runId: "r", invocationId: "step", outputName: "out" });
    await store.write(short, new Uint8Array([2]));
    expect(filesUnder(store.root).sort()).toEqual([short, uri].sort());
  });

  it("creates one directory per run, none per step run", async () => {
    const store = makeStore();
    for (let i = 0; i < 20; i++) {
      await store.write(store.uriFor({ runId: "run", invocationId: `step_${i}`, outputName: "output" }), new Uint8Array([i]));
    }
    const entries = fs.readdirSync(store.root, { recursive: true, withFileTypes: true });
    expect(entries.filter((e) => e.isDirectory()).map((e) => e.name)).toEqual(["run"]);
    expect(entries.filter((e) => e.isFile())).toHaveLength(20);
  });

  it("leaves no temp files behind", async () => {
    const store = makeStore();
    const uris = Array.from({ length: 50 }, (_, i) =>
      store.uriFor({ runId: "run", invocationId: `step[${i % 5}]`, outputName: "out", mappingKey: String(i) }),
    );
    // Concurrent writes, overwrites, and one large file that takes the async path.
    await Promise.all(uris.map((uri, i) => store.write(uri, new Uint8Array([i]))));
    await Promise.all(uris.map((uri, i) => store.write(uri, new Uint8Array([i, i]))));
    const big = store.uriFor({ runId: "run", invocationId: "big", outputName: "out" });
    await store.write(big, new Uint8Array(3 * 1024 * 1024).fill(7));

    expect(filesUnder(store.root).sort()).toEqual([...uris, big].sort());
    expect((await store.read(big)).byteLength).toBe(3 * 1024 * 1024);
  });

  it("removes its temp file when a write fails", async () => {
    const store = makeStore();
    const mapped = store.uriFor({ runId: "run", invocationId: "step", outputName: "out", mappingKey: "0" });
    await store.write(mapped, new Uint8Array([1]));
    // A directory stands where the file should go, so the rename fails.
    const blocked = store.uriFor({ runId: "run", invocationId: "step", outputName: "out" });
    fs.mkdirSync(blocked);
    await expect(store.write(blocked, new Uint8Array([2]))).rejects.toThrow();
    expect(filesUnder(store.root)).toEqual([mapped]);
  });

  it("recreates a directory that was deleted after it was cached", async () => {
    const store = makeStore();
    const uri = store.uriFor({ runId: "deleted-run", invocationId: "step", outputName: "out" });
    await store.write(uri, new Uint8Array([1]));
    fs.rmSync(path.join(store.root, "deleted-run"), { recursive: true });
    await store.write(uri, new Uint8Array([2]));
    expect([...(await store.read(uri))]).toEqual([2]);
  });

  it("rejects uris outside the root", async () => {
    const store = makeStore();
    const outside = [
      path.join(store.root, "..", "escape"),
      store.root,
      `${store.root}-sibling${path.sep}file`,
      path.join(store.root, "run", "..", "..", "escape"),
      "relative/file",
    ];
    for (const uri of outside) {
      await expect(store.write(uri, new Uint8Array([1]))).rejects.toThrow(/outside the root/);
      await expect(store.read(uri)).rejects.toThrow(/outside the root/);
      await expect(store.exists(uri)).rejects.toThrow(/outside the root/);
      await expect(store.remove(uri)).rejects.toThrow(/outside the root/);
    }
    expect(fs.existsSync(path.join(root, "escape"))).toBe(false);
  });
});
